package io.jaio.aio.fdmon;

/**
 * Handlers found ready by one {@code poll} call, waiting for dispatch (QEMU's
 * {@code AioHandlerList ready_list}). Intrusive and doubly linked, so adding a node first takes
 * it off whatever other ready list holds it: a nested {@code poll} "steals" a node still queued
 * on its parent's list, and no node is ever dispatched twice.
 *
 * <p>Home thread only. Insertion at the head; callers must not depend on order.
 */
public final class ReadyList {
    private FdNode head;

    /** An empty list. Any thread; from then on the list is used in one home thread only. */
    public ReadyList() {}

    /**
     * Adds {@code node} with {@code revents} (ORed into what it already has if on this list).
     * Home thread.
     *
     * @param node a ready node, taken off any other ready list
     * @param revents the events the monitor reported
     */
    public void add(FdNode node, int revents) {
        if (node.readyOwner == this) {
            node.setRevents(node.revents() | revents);
            return;
        }
        if (node.readyOwner != null) {
            node.readyOwner.remove(node);
        }
        node.setRevents(revents);
        link(node);
    }

    /**
     * Adds {@code node} because its userspace poll function reported it ready. Home thread.
     *
     * @param node the node, taken off any other ready list; its poll-ready mark is set
     */
    public void addPollReady(FdNode node) {
        if (node.readyOwner != this) {
            if (node.readyOwner != null) {
                node.readyOwner.remove(node);
            }
            node.setRevents(0);
            link(node);
        }
        node.setPollReady(true);
    }

    private void link(FdNode node) {
        node.readyOwner = this;
        node.readyPrev = null;
        node.readyNext = head;
        if (head != null) {
            head.readyPrev = node;
        }
        head = node;
    }

    /**
     * Unlinks {@code node}. Home thread.
     *
     * @param node a node on this list
     */
    public void remove(FdNode node) {
        assert node.readyOwner == this;
        if (node.readyPrev != null) {
            node.readyPrev.readyNext = node.readyNext;
        } else {
            head = node.readyNext;
        }
        if (node.readyNext != null) {
            node.readyNext.readyPrev = node.readyPrev;
        }
        node.readyOwner = null;
        node.readyNext = null;
        node.readyPrev = null;
    }

    /** {@return the head, removed, or null if the list is empty} Home thread. */
    public FdNode poll() {
        FdNode n = head;
        if (n != null) {
            remove(n);
        }
        return n;
    }

    /** {@return whether no node is on the list} Home thread. */
    public boolean isEmpty() {
        return head == null;
    }
}
