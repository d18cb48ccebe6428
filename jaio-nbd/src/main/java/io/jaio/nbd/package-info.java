/** The NBD protocol (NetworkBlockDevice/nbd doc/proto.md): codec and server. */
package io.jaio.nbd;
