/*
 * The practical limit for reading a capture file: a bare libpcap loop that
 * only calls pcap_next_ex, counting packets and captured bytes.
 *
 *   cc -O2 -o target/perf/pcap_loop benches/pcap_loop.c -lpcap
 *   target/perf/pcap_loop FILE
 *
 * Prints one line: "packets N bytes B seconds S packets/s R".
 * The file is opened with nanosecond precision, as s7sentry does.
 * Exit status 0 at the end of the file, 1 on an open error, 2 on a read error
 * (the counts up to the error are still printed).
 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 1;
    }
    char err[PCAP_ERRBUF_SIZE];
    double t0 = now();
    pcap_t *p = pcap_open_offline_with_tstamp_precision(argv[1], PCAP_TSTAMP_PRECISION_NANO, err);
    if (p == NULL) {
        fprintf(stderr, "pcap_loop: %s: %s\n", argv[1], err);
        return 1;
    }
    uint64_t packets = 0, bytes = 0;
    struct pcap_pkthdr *h;
    const u_char *data;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        packets++;
        bytes += h->caplen;
    }
    double secs = now() - t0;
    int status = 0;
    if (rc == PCAP_ERROR) {
        fprintf(stderr, "pcap_loop: %s: %s\n", argv[1], pcap_geterr(p));
        status = 2;
    }
    pcap_close(p);
    printf("packets %llu bytes %llu seconds %.6f packets/s %.0f\n", (unsigned long long)packets,
           (unsigned long long)bytes, secs, secs > 0 ? (double)packets / secs : 0.0);
    return status;
}
