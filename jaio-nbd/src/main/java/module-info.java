/** The NBD protocol: a codec without I/O, and the server on jaio's coroutine sockets. */
module io.jaio.nbd {
    requires transitive io.jaio.block;
    requires jdk.jfr;
    exports io.jaio.nbd;
}
