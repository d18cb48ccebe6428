/**
 * The NBD protocol (NetworkBlockDevice/nbd {@code doc/proto.md}): a codec without I/O, a server
 * on jaio's coroutine sockets. (A small blocking client for tests, {@code NbdClient}, lives in
 * the module's test sources and ships in its test-jar.)
 *
 * <p><b>Serving.</b> Build {@link io.jaio.nbd.NbdExport}s over
 * {@link io.jaio.block.BlockBackend}s, put them in an {@link io.jaio.nbd.NbdServer} bound to
 * the {@link io.jaio.aio.AioContext} the backends run in, {@code listen} on Unix or TCP
 * addresses, and {@code shutdown()} when done:
 *
 * <pre>{@code
 * IoThread io = IoThread.start("nbd");
 * NbdServer server = NbdServer.builder(io.context())
 *         .export(NbdExport.builder("disk0", backend).description("scratch").build())
 *         .build();
 * server.listen(UnixDomainSocketAddress.of("/run/jaio/nbd.sock"));
 * server.listen(new InetSocketAddress(10809));
 * ...
 * server.shutdown().join();   // ESHUTDOWN to new requests, running ones finish, exports flushed
 * io.close();
 * }</pre>
 *
 * <p><b>Protocol coverage.</b> Fixed newstyle with NO_ZEROES; options EXPORT_NAME, ABORT,
 * LIST, INFO, GO (export, name, description, block-size info), STRUCTURED_REPLY,
 * EXTENDED_HEADERS, STARTTLS (when the server has TLS credentials), LIST_META_CONTEXT and
 * SET_META_CONTEXT (metadata contexts {@code base:allocation}, {@code qemu:allocation-depth}
 * and {@code qemu:dirty-bitmap:NAME} for each bitmap of the export's
 * {@link io.jaio.nbd.NbdExport.Builder#dirtyBitmaps dirty bitmaps}), anything else
 * NBD_REP_ERR_UNSUP; commands READ (structured replies with hole chunks, DF), WRITE (FUA),
 * FLUSH, TRIM, WRITE_ZEROES (NO_HOLE, FAST_ZERO), BLOCK_STATUS (REQ_ONE), CACHE, DISC; many
 * requests in flight per connection, replies out of order; multi-conn. Errors follow the
 * specification's recommendations (see {@code NbdCommands.check}).
 *
 * <p><b>Codec.</b> {@link io.jaio.nbd.Nbd} (constants), {@link io.jaio.nbd.NbdRequest},
 * {@link io.jaio.nbd.NbdCodec} (encoders), and the package-private handshake state machine and
 * request checker work on byte buffers only; bad input surfaces as
 * {@link io.jaio.nbd.NbdProtocolException}.
 */
package io.jaio.nbd;
