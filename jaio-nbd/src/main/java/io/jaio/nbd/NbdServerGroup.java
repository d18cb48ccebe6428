package io.jaio.nbd;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
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
     * Any thread.
     *
     * @param instances the export's instances, one per server, all with the same name
     * @param on the servers, index by index; each gets its instance
     * @throws IllegalArgumentException if the name exists, the lists differ in size or are empty,
     *                                  or the names differ
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
        for (int i = 0; i < on.size(); i++) {
            on.get(i).place(instances.get(i));
        }
        Map<String, Placement> m = new LinkedHashMap<>(exports);
        m.put(name, new Placement(List.copyOf(on), List.copyOf(instances), new AtomicLong()));
        exports = java.util.Collections.unmodifiableMap(m);
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
