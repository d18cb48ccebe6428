/** Block backends over files, used from jaio coroutines. */
module io.jaio.block {
    requires transitive io.jaio.core;
    exports io.jaio.block;
}
