package io.jaio.bench;

import io.netty.util.internal.PlatformDependent;
import java.util.ArrayDeque;
import java.util.Queue;
import java.util.concurrent.Executor;

/**
 * The lower bound: a thread that runs tasks from two queues and busy-polls when it has none. No fd
 * monitor, no timers, no sleeping, so no wake-up: a hand-off costs a queue operation and a cache-line
 * transfer. Tasks it runs for itself go to a plain local deque; other threads' tasks to the same
 * multi-producer single-consumer queue Netty's event loops use ({@code PlatformDependent.newMpscQueue()},
 * JCTools' unbounded MPSC array queue), so Netty minus this baseline is the cost of Netty's loop machinery.
 * It burns its CPU all the time, which is exactly what a real loop must not do.
 */
final class SpinLoop implements Executor, AutoCloseable {
    private final ArrayDeque<Runnable> local = new ArrayDeque<>();
    private final Queue<Runnable> remote = PlatformDependent.newMpscQueue();
    private final Placement placement;
    private final Thread thread;
    /** Set by {@link #close()}, read by the loop: plain enough as volatile, it is read once per empty round. */
    private volatile boolean running = true;

    SpinLoop(String name, Placement placement) {
        this.placement = placement;
        this.thread = new Thread(this::run, name);
        thread.setDaemon(true);
        thread.start();
    }

    @Override
    public void execute(Runnable task) {
        if (Thread.currentThread() == thread) {
            local.add(task);
        } else {
            remote.offer(task);
        }
    }

    private void run() {
        placement.pinLoopThreadHere();
        int idle = 0;
        while (running) {
            Runnable r = local.poll();
            if (r == null) {
                r = remote.poll();
            }
            if (r != null) {
                idle = 0;
                r.run();
            } else {
                placement.pause(idle);
                if (idle != Integer.MAX_VALUE) {
                    idle++;
                }
            }
        }
    }

    @Override
    public void close() {
        running = false;
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (thread.isAlive()) {
            throw new IllegalStateException("spin loop did not stop");
        }
    }
}
