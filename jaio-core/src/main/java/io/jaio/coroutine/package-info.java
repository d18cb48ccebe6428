/**
 * QEMU's coroutines on jaio's {@link io.jaio.aio.AioContext}: {@link io.jaio.coroutine.Coroutine}
 * (create, enter, yield, wake, schedule, reschedule, sleep) and the coroutine locks
 * {@link io.jaio.coroutine.CoMutex}, {@link io.jaio.coroutine.CoQueue} and
 * {@link io.jaio.coroutine.CoRwLock}. A coroutine runs on the thread that enters it until it yields;
 * it is resumed in the context it last ran in, through that context's bottom halves when the
 * waker is another thread. {@code docs/design/aio-semantics.md} section 12 is the specification.
 */
package io.jaio.coroutine;
