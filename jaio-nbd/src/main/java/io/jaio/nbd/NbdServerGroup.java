package io.jaio.nbd;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * NBD servers on several IOThreads that share one export namespace: a client may connect to any
 * of them (in practice one listens), negotiates against every export of the group, and after
 * the handshake its connection moves to the IOThread of the export it chose, round-robin over
 * the servers that serve it (an export placed on two IOThreads spreads its clients over both).
 * That is how different exports run on different IOThreads behind one socket. Its servers offer
 * the group's exports only: add and remove them here, not on a server.
 *
 * <pre>{@code
 * NbdServerGroup g = new NbdServerGroup();
 * NbdServer s0 = NbdServer.builder(io0.context()).group(g).build();
 * NbdServer s1 = NbdServer.builder(io1.context()).group(g).build();
 * g.addExport(List.of(NbdExport.builder("a", backendOnIo0).build()), List.of(s0));
 * g.addExport(List.of(NbdExport.builder("b", backendOnIo1).build()), List.of(s1));
 * s0.listen(UnixDomainSocketAddress.of("/run/nbd.sock"));   // clients of b move to io1
 * }</pre>
 *
 * <p>Consistency: every export the group lists has its instance on each of its servers, and
 * the group's servers have no instance it does not list, except while a removal is under way
 * (the name leaves the group at once, the servers drop it as they finish). A failed
 * {@link #addExport} changes nothing; a refused {@link #removeExport} puts the export back whole.
 *
 * <p>Threads: every method from any thread, except {@link #connectionCount} (not from a home
 * thread); the map is copy-on-write under this object's lock.
 */
public final class NbdServerGroup {
    /** An export's servers and, index by index, its instance on each (each with its own backend). */
    private record Placement(List<NbdServer> servers, List<NbdExport> exports, AtomicLong next) {
    }

    /** Copy-on-write: written under this object's lock, read without it (volatile). */
    private volatile Map<String, Placement> exports = Map.of();
    /**
     * Names of non-forced removals not yet decided (this object's lock): out of the map, yet not
     * free, since a refusal puts the export back under its name.
     */
    private final Set<String> reserved = new HashSet<>();
    private final List<NbdServer> servers = new java.util.concurrent.CopyOnWriteArrayList<>();

    /** An empty group: add servers with {@link NbdServer.Builder#group}, then exports. Any thread. */
    public NbdServerGroup() {
    }

    /** Called by NbdServer.Builder.build(). */
    void register(NbdServer s) {
        servers.add(s);
    }

    /**
     * Forgets a server that was shut down and serves no export of the group (e.g. its IOThread
     * is being deleted). Any thread.
     *
     * @param s the server; nothing happens if it is not in the group
     * @throws IllegalStateException if an export of the group is still placed on it
     */
    public synchronized void remove(NbdServer s) {
        for (Placement p : exports.values()) {
            if (p.servers.contains(s)) {
                throw new IllegalStateException("an export of the group is still served by " + s);
            }
        }
        servers.remove(s);
    }

    /** {@return the servers built into this group and not removed, in build order} An immutable copy. Any thread. */
    public List<NbdServer> servers() {
        return List.copyOf(servers);
    }

    /**
     * Adds an export served by {@code on.get(i)} with instance {@code instances.get(i)} (same
     * name, each usable from its server's context). Visible to handshakes that start afterwards.
     * All or nothing: everything is checked before any server changes, and should a server still
     * refuse its instance, those already added are taken back, so a failed add leaves every
     * server as it was. Any thread.
     *
     * @param instances the export's instances, one per server, all with the same name
     * @param on the servers, index by index, each once and each in this group (built with
     *     {@link NbdServer.Builder#group}, not {@link #remove removed})
     * @throws IllegalArgumentException if the group has the name, or a non-forced removal of it
     *     is not decided yet; if the lists differ in size or are empty, or the names differ; if a
     *     server appears twice in {@code on} or is not in the group; or if a server still has an
     *     export of that name (its part of a removal has not run yet)
     * @throws NullPointerException if an instance or a server is null
     */
    public synchronized void addExport(List<NbdExport> instances, List<NbdServer> on) {
        if (instances.isEmpty() || instances.size() != on.size()) {
            throw new IllegalArgumentException("one export instance per server is needed");
        }
        String name = instances.get(0).name();
        for (NbdExport e : instances) {
            if (!e.name().equals(name)) {
                throw new IllegalArgumentException("export instances must share one name");
            }
        }
        if (exports.containsKey(name)) {
            throw new IllegalArgumentException("export '" + name + "' exists");
        }
        if (reserved.contains(name)) {
            throw new IllegalArgumentException("export '" + name + "' is being removed; its name is free once"
                    + " removeExport's future has completed");
        }
        Set<NbdServer> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        for (NbdServer s : on) {
            Objects.requireNonNull(s, "server");
            if (!seen.add(s)) {
                throw new IllegalArgumentException("export '" + name + "': " + describe(s)
                        + " appears twice (one instance per server)");
            }
            if (!servers.contains(s)) {
                throw new IllegalArgumentException("export '" + name + "': " + describe(s)
                        + " is not in this group (build it with NbdServer.Builder.group)");
            }
            if (s.exportNamed(name) != null) {
                throw new IllegalArgumentException("export '" + name + "': " + describe(s)
                        + " still has an export of that name (its removal has not finished)");
            }
        }
        int added = 0;
        try {
            for (; added < on.size(); added++) {
                on.get(added).place(instances.get(added));
            }
        } catch (RuntimeException e) {
            // No client can use those: a grouped server's handshakes only see the group's map.
            for (int i = 0; i < added; i++) {
                on.get(i).drop(instances.get(i));
            }
            throw e;
        }
        setExport(name, new Placement(List.copyOf(on), List.copyOf(instances), new AtomicLong()));
    }

    /**
     * Copy-on-write: {@link #exports} with {@code name} mapped to {@code p}, or removed if null.
     * Under this object's lock; the volatile write publishes the new map to the lock-free readers.
     */
    private void setExport(String name, Placement p) {
        assert Thread.holdsLock(this);
        Map<String, Placement> m = new LinkedHashMap<>(exports);
        if (p == null) {
            m.remove(name);
        } else {
            m.put(name, p);
        }
        exports = Collections.unmodifiableMap(m);
    }

    /**
     * Removes export {@code name} from every server serving it, as QEMU's
     * {@code block-export-del}: the name leaves the group at once (handshakes no longer see it;
     * after a forced removal it may be added again at once, on servers that have finished
     * theirs), and each server removes its instance in its own time ({@link
     * NbdServer#removeExport}: running requests answered, clients disconnected, flushed). A
     * server whose context is closed has nothing left to drain: its instance is dropped at once
     * (unflushed: its backend belongs to that context) and reported as a failure, while the
     * other servers' removals go on. With {@code force} false, a server with a client refuses;
     * then the export is put back whole on every server whose context is open (those that had
     * removed it get their instance back), and the name stays reserved until that is decided, so
     * the group never keeps half an export. Any thread.
     *
     * @param name the export's name
     * @param force whether to disconnect the export's clients rather than refuse
     * @return a future that completes once every server's part has finished (removed, and
     *     flushed if writable); it fails with {@link IllegalArgumentException} if the group has
     *     no such export (or its non-forced removal is still being decided); otherwise, once
     *     every part has finished, with the first failure: an {@link
     *     NbdServer.ExportInUseException} if a server refused (the export is then back), else
     *     what a server's removal threw (such as its flush), or an {@link IllegalStateException}
     *     naming a server's closed context; further failures are
     *     {@linkplain Throwable#getSuppressed() suppressed} in it
     */
    public CompletableFuture<Void> removeExport(String name, boolean force) {
        Placement p;
        synchronized (this) {
            p = exports.get(name);
            if (p == null) {
                return CompletableFuture.failedFuture(new IllegalArgumentException(reserved.contains(name)
                        ? "export '" + name + "' is being removed" : "export '" + name + "' not found"));
            }
            setExport(name, null);
            if (!force) {
                reserved.add(name);
            }
        }
        List<CompletableFuture<Void>> parts = new ArrayList<>();
        for (NbdServer s : p.servers) {
            parts.add(s.removeInGroup(name, force)); // never throws: a closed context's part fails at once
        }
        // allOf completes once every part has, failed or not: settle then sees them all.
        return CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new))
                .handle((ok, failure) -> settle(name, p, parts, force))
                .thenCompose(f -> f);
    }

    /** After every part of a removal has finished: puts a refused export back, frees the name, reports. */
    private CompletableFuture<Void> settle(String name, Placement p, List<CompletableFuture<Void>> parts,
            boolean force) {
        List<Throwable> failures = new ArrayList<>();
        Throwable refusal = null;
        for (CompletableFuture<Void> f : parts) {
            if (f.isCompletedExceptionally()) {
                Throwable t = f.exceptionNow();
                t = t instanceof CompletionException c && c.getCause() != null ? c.getCause() : t;
                failures.add(t);
                if (refusal == null && t instanceof NbdServer.ExportInUseException) {
                    refusal = t;
                }
            }
        }
        if (!force) {
            Placement back = null;
            try {
                if (refusal != null) {
                    back = reinstate(p, failures);
                }
            } finally {
                synchronized (this) {
                    reserved.remove(name);
                    if (back != null) {
                        setExport(name, back);
                    }
                }
            }
        }
        if (failures.isEmpty()) {
            return CompletableFuture.completedFuture(null);
        }
        Throwable first = refusal != null ? refusal : failures.get(0);
        for (Throwable t : failures) {
            if (t != first) {
                first.addSuppressed(t);
            }
        }
        return CompletableFuture.failedFuture(first);
    }

    /**
     * For a refused removal: gives each server whose context is open its instance again (if its
     * part had taken it away, whether or not it then failed) and returns the placement over
     * those servers, or null if none is left. A server whose context is closed is left out (it
     * cannot serve the export) and its instance dropped. The name is reserved meanwhile, so no
     * other instance can have taken it.
     */
    private static Placement reinstate(Placement p, List<Throwable> failures) {
        List<NbdServer> on = new ArrayList<>();
        List<NbdExport> instances = new ArrayList<>();
        for (int i = 0; i < p.servers.size(); i++) {
            NbdServer s = p.servers.get(i);
            NbdExport e = p.exports.get(i);
            if (s.context().isClosed()) {
                s.drop(e);
                continue;
            }
            if (s.exportNamed(e.name()) != e) {
                try {
                    s.place(e);
                } catch (IllegalArgumentException other) { // another instance of the name: left out
                    failures.add(other);
                    continue;
                }
            }
            on.add(s);
            instances.add(e);
        }
        return on.isEmpty() ? null : new Placement(List.copyOf(on), List.copyOf(instances), p.next);
    }

    /** How messages name a server: by its context (its toString lists only export names). */
    private static String describe(NbdServer s) {
        return "the server of context '" + s.context().name() + "'";
    }

    /**
     * The clients past their handshake on an export, over all its servers. Any thread but a
     * home thread of the group's servers: it blocks until each server's home thread has counted.
     *
     * @param name the export's name
     * @return the number of clients, 0 if the group has no such export
     * @throws IllegalStateException if a server's context is closed, or the caller is
     *     interrupted while waiting
     */
    public int connectionCount(String name) {
        Placement p = exports.get(name);
        int n = 0;
        if (p != null) {
            for (NbdServer s : p.servers) {
                n += s.connectionCount(name);
            }
        }
        return n;
    }

    /**
     * Where an export is served. Any thread.
     *
     * @param name the export's name
     * @return a new map from each server serving the export to its instance there, in the order
     *     given to {@link #addExport}; empty if the group has no such export
     */
    public Map<NbdServer, NbdExport> placement(String name) {
        Placement p = exports.get(name);
        Map<NbdServer, NbdExport> m = new LinkedHashMap<>();
        if (p != null) {
            for (int i = 0; i < p.servers.size(); i++) {
                m.put(p.servers.get(i), p.exports.get(i));
            }
        }
        return m;
    }

    /** For handshakes: the first instance of {@code name} (every instance describes the same image). */
    NbdExport find(String name) {
        Map<String, Placement> m = exports;
        Placement p = m.get(name);
        if (p == null && name.isEmpty() && m.size() == 1) {
            p = m.values().iterator().next();
        }
        return p == null ? null : p.exports.get(0);
    }

    Collection<NbdExport> all() {
        List<NbdExport> l = new ArrayList<>();
        for (Placement p : exports.values()) {
            l.add(p.exports.get(0));
        }
        return l;
    }

    /** Where a client that chose export {@code name} is served: the next server round-robin, or null if gone. */
    Map.Entry<NbdServer, NbdExport> route(String name) {
        Placement p = exports.get(name);
        if (p == null) {
            return null;
        }
        int i = (int) Long.remainderUnsigned(p.next.getAndIncrement(), p.servers.size());
        return Map.entry(p.servers.get(i), p.exports.get(i));
    }

    /**
     * Export {@code name}'s instance on {@code server}, or null if it is not placed there (a TLS
     * connection cannot move: its session state lives in the accepting server's transport).
     */
    Map.Entry<NbdServer, NbdExport> routeTo(String name, NbdServer server) {
        Placement p = exports.get(name);
        int i = p == null ? -1 : p.servers.indexOf(server);
        return i < 0 ? null : Map.entry(server, p.exports.get(i));
    }

    /** Clients connected to any server of the group (a client being moved may count twice for a moment). */
    int activeConnections() {
        long n = 0;
        for (NbdServer s : servers) {
            n += s.stats().connectionsActive();
        }
        return (int) Math.min(Integer.MAX_VALUE, n);
    }

    @Override
    public String toString() {
        return "NbdServerGroup[" + Objects.toString(exports.keySet()) + "]";
    }
}
