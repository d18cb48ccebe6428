package io.jaio.nbd;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/** A JFR event per NBD request: its duration is the request's latency (receipt to reply written). */
@Name("io.jaio.nbd.Request")
@Label("NBD Request")
@Category({"jaio", "NBD"})
@Description("One NBD transmission request, from its header being read to its reply being written")
@StackTrace(false)
final class NbdRequestEvent extends jdk.jfr.Event {
    @Label("Export")
    String export;

    @Label("Command")
    String command;

    @Label("Offset")
    long offset;

    @Label("Length")
    @DataAmount
    long length;

    /** System.nanoTime() at receipt, for NbdExport's latency histogram (transient: not recorded by JFR). */
    transient long startNs;

    @Label("Error")
    @Description("The NBD error value sent, 0 on success")
    int error;
}
