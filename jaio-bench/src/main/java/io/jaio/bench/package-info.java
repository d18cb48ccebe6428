/**
 * JMH benchmarks of the jaio loop, each beside its peer (Netty 4.2 event loops) in the same run, so
 * that ratios come from one run on one machine.
 *
 * <p>Every benchmark has an {@code impl} parameter naming what runs the loop side:
 * <ul>
 *   <li>{@code jaio[-MONITOR][-pollN]}: an {@link io.jaio.aio.IoThread}; {@code MONITOR} is {@code auto}
 *       (the default), {@code ppoll}, {@code epoll} or {@code io_uring}; {@code pollN} sets poll-max-ns to
 *       {@code N} (the IoThread default, 32768, when absent). See {@link io.jaio.bench.Loops#jaio}.</li>
 *   <li>{@code netty-nio}, {@code netty-epoll}, {@code netty-io_uring}: a one-thread
 *       {@code MultiThreadIoEventLoopGroup} with that {@code IoHandler}.</li>
 *   <li>{@code spin}: a thread that busy-polls a queue ({@link io.jaio.bench.SpinLoop}); no loop machinery,
 *       no sleeping, the lower bound.</li>
 * </ul>
 * and a {@code pin} parameter for thread placement ({@link io.jaio.bench.Placement}).
 *
 * <p>Results, the commands that reproduce them and how to read them: {@code docs/benchmarks.md}.
 */
package io.jaio.bench;
