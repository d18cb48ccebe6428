package io.jaio.nbd;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
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
 * {@link #addExport} changes nothing.
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
     * @throws IllegalArgumentException if the group has the name; if the lists differ in size or
     *     are empty, or the names differ; if a server appears twice in {@code on} or is not in
     *     the group; or if a server still has an export of that name (its part of a removal has
     *     not run yet)
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
        Map<String, Placement> m = new LinkedHashMap<>(exports);
        m.put(name, new Placement(List.copyOf(on), List.copyOf(instances), new AtomicLong()));
        exports = Collections.unmodifiableMap(m);
    }

    /**
     * Removes export {@code name} from every server serving it (see {@link NbdServer#removeExport});
     * handshakes no longer see it at once. With {@code force} false, a server with a client
     * refuses; then the export is put back on the servers that had already removed it and the
     * future fails with that refusal, so the group never keeps half an export. Any thread.
     *
     * @param name the export's name
     * @param force whether to disconnect the export's clients rather than refuse
     * @return a future that completes once every server has removed the export (and flushed it
     *     if writable); it fails with {@link IllegalArgumentException} if the group has no such
     *     export, with {@link NbdServer.ExportInUseException} if a server refused, or with what a
     *     server's removal threw
     * @throws IllegalStateException if the context of a server serving the export is closed
     */
    public CompletableFuture<Void> removeExport(String name, boolean force) {
        Placement p;
        synchronized (this) {
            p = exports.get(name);
            if (p == null) {
                return CompletableFuture.failedFuture(new IllegalArgumentException("export '" + name + "' not found"));
            }
            Map<String, Placement> m = new LinkedHashMap<>(exports);
            m.remove(name);
            exports = java.util.Collections.unmodifiableMap(m);
        }
        List<CompletableFuture<Void>> parts = new ArrayList<>();
        for (NbdServer s : p.servers) {
            parts.add(s.remove(name, force));
        }
        CompletableFuture<Void> all = CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new));
        if (force) {
            return all; // a forced removal is not refused
        }
        return all.handle((ok, failure) -> {
            if (failure == null) {
                return CompletableFuture.<Void>completedFuture(null);
            }
            for (int i = 0; i < parts.size(); i++) {
                if (!parts.get(i).isCompletedExceptionally()) {
                    p.servers.get(i).place(p.exports.get(i)); // removed there: back again
                }
            }
            synchronized (this) {
                Map<String, Placement> m = new LinkedHashMap<>(exports);
                m.put(name, p);
                exports = java.util.Collections.unmodifiableMap(m);
            }
            Throwable cause = failure instanceof java.util.concurrent.CompletionException c && c.getCause() != null
                    ? c.getCause() : failure;
            return CompletableFuture.<Void>failedFuture(cause);
        }).thenCompose(f -> f);
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
