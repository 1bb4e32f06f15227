/* The software NVMe controller's own ceiling: commands per second through
 * the controller thread in null mode, driven by the tightest host loop we
 * can write (no driver: SQEs prebuilt, one SQ doorbell per batch, one CQ
 * head write per batch). Whatever the driver reaches against the software
 * controller is bounded by this figure.
 *
 *   soft_ctrl_bench [--pin] [seconds per depth] [depth ...]   (default 2 s; 1 8 32 128)
 *
 * --pin runs the host loop on CPU 0 and the controller thread on CPU 1.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../tests/unit/soft_ctrl_host.h"

#define QUEUE_ENTRIES 1024u

/* CPU time of the whole process (host loop + controller thread). */
static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int run(struct host *h, struct host_queue *q, uint32_t depth, double seconds)
{
	struct pn_sqe rd = {.opc = nvme_cmd_read, .nsid = 1, .cdw12 = 7};
	uint64_t done = 0, submitted = 0;
	uint64_t start, end, deadline;
	volatile uint32_t *sq_db = host_sq_db(h, q->qid), *cq_db = host_cq_db(h, q->qid);
	struct soft_ctrl_stats s0, s1;

	rd.prp1 = HOST_ARENA_IOVA;   /* null mode does not touch it */
	soft_ctrl_get_stats(h->sc, &s0);
	uint64_t cpu0 = cpu_ns();

	start = host_now_ns();
	deadline = start + (uint64_t)(seconds * 1e9);
	for (;;) {
		/* keep `depth` outstanding */
		uint32_t n = 0;

		while (submitted - done < depth) {
			rd.cid = (uint16_t)(submitted & 0xffff);
			rd.cdw10 = (uint32_t)(submitted & 0xfff);
			q->sq[q->sq_tail] = rd;
			if (++q->sq_tail == q->size)
				q->sq_tail = 0;
			submitted++;
			n++;
		}
		if (n) {
			__atomic_thread_fence(__ATOMIC_RELEASE);
			*sq_db = q->sq_tail;
		}
		n = 0;
		while (host_cqe_ready(q)) {
			if (++q->cq_head == q->size) {
				q->cq_head = 0;
				q->phase ^= 1;
			}
			n++;
		}
		if (n) {
			*cq_db = q->cq_head;
			done += n;
			if ((done & 0x3ff) < n && host_now_ns() > deadline)
				break;
		}
	}
	/* drain */
	while (done < submitted) {
		while (host_cqe_ready(q)) {
			if (++q->cq_head == q->size) {
				q->cq_head = 0;
				q->phase ^= 1;
			}
			done++;
		}
		*cq_db = q->cq_head;
	}
	end = host_now_ns();
	soft_ctrl_get_stats(h->sc, &s1);
	if (s1.io_commands - s0.io_commands != done) {
		fprintf(stderr, "mismatch: controller fetched %llu, host reaped %llu\n",
			(unsigned long long)(s1.io_commands - s0.io_commands), (unsigned long long)done);
		return 1;
	}
	{
		double ctrl_ns = (double)(s1.thread_cpu_ns - s0.thread_cpu_ns) / (double)done;
		double proc_ns = (double)(cpu_ns() - cpu0) / (double)done;

		printf("QD %4u: %9.0f cmd/s wall | controller thread %6.1f ns CPU/cmd = %5.2f M cmd/s per core"
		       " | host loop %6.1f ns CPU/cmd | %llu cmds, %.2f s\n",
		       depth, done * 1e9 / (double)(end - start), ctrl_ns, 1e3 / ctrl_ns,
		       proc_ns - ctrl_ns, (unsigned long long)done, (end - start) / 1e9);
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The controller alone: the host queues a full ring of commands, rings
 * once and gets out of the way (yielding its core); the controller's busy
 * time for the batch (its own TSC accounting) divided by the commands is
 * its cost per command, with no waiting for the host in it. */
static int ceiling(struct host *h, struct host_queue *q, int batches)
{
	struct pn_sqe rd = {.opc = nvme_cmd_read, .nsid = 1, .cdw12 = 7, .prp1 = HOST_ARENA_IOVA};
	uint32_t n = q->size - 1;
	double per_cmd[64], cpu_per_cmd[64];

	for (int b = 0; b < batches && b < 64; b++) {
		struct soft_ctrl_stats s0, s1;
		uint64_t deadline = host_now_ns() + 20ull * 1000000000ull;
		uint32_t last = (q->cq_head + n - 1) % q->size;
		uint8_t last_phase = q->cq_head + n - 1 >= q->size ? q->phase ^ 1 : q->phase;

		for (uint32_t i = 0; i < n; i++) {
			rd.cid = (uint16_t)i;
			rd.cdw10 = i & 0xfff;
			q->sq[q->sq_tail] = rd;
			if (++q->sq_tail == q->size)
				q->sq_tail = 0;
		}
		soft_ctrl_get_stats(h->sc, &s0);
		__atomic_thread_fence(__ATOMIC_RELEASE);
		*host_sq_db(h, q->qid) = q->sq_tail;
		while ((__atomic_load_n(&q->cq[last].status, __ATOMIC_ACQUIRE) & 1) != last_phase) {
			if (host_now_ns() > deadline)
				return 1;
			sched_yield();
		}
		do {
			if (host_now_ns() > deadline)
				return 1;
			sched_yield();
			soft_ctrl_get_stats(h->sc, &s1);
		} while (s1.busy_ns == s0.busy_ns);
		per_cmd[b] = (double)(s1.busy_ns - s0.busy_ns) / n;
		/* Thread CPU time includes the idle spin until the host looked:
		 * an upper bound. */
		cpu_per_cmd[b] = (double)(s1.thread_cpu_ns - s0.thread_cpu_ns) / n;
		q->cq_head = (q->cq_head + n) % q->size;
		q->phase = last_phase;
		if (q->cq_head == 0)
			q->phase ^= 1;
		*host_cq_db(h, q->qid) = q->cq_head;
	}
	qsort(per_cmd, (size_t)batches, sizeof(double), cmp_double);
	qsort(cpu_per_cmd, (size_t)batches, sizeof(double), cmp_double);
	printf("controller alone, %d batches of %u commands:\n"
	       "  busy time   best %6.1f ns/cmd (%6.1f M cmd/s), median %6.1f ns/cmd (%6.1f M cmd/s)\n"
	       "  thread CPU  best %6.1f ns/cmd (%6.1f M cmd/s), median %6.1f ns/cmd (%6.1f M cmd/s)\n",
	       batches, n, per_cmd[0], 1e3 / per_cmd[0], per_cmd[batches / 2], 1e3 / per_cmd[batches / 2],
	       cpu_per_cmd[0], 1e3 / cpu_per_cmd[0], cpu_per_cmd[batches / 2],
	       1e3 / cpu_per_cmd[batches / 2]);
	return 0;
}

int main(int argc, char **argv)
{
	struct soft_ctrl_config cfg;
	struct host h;
	struct host_queue q, big;
	bool pin = argc > 1 && strcmp(argv[1], "--pin") == 0;
	double seconds;
	uint32_t default_depths[] = {1, 8, 32, 128};
	int rc = 0;

	if (pin) {
		cpu_set_t set;

		argc--;
		argv++;
		CPU_ZERO(&set);
		CPU_SET(0, &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			perror("sched_setaffinity");
	}
	seconds = argc > 1 ? atof(argv[1]) : 2.0;
	soft_ctrl_config_default(&cfg);
	cfg.null_mode = true;
	cfg.pin_cpu = pin;
	cfg.cpu = 1;
	cfg.never_sleep = true;
	cfg.max_queue_entries = 65536;
	if (host_open(&h, &cfg, 8u << 20) || !host_enable(&h)) {
		fprintf(stderr, "cannot start the software controller\n");
		return 1;
	}
	if (host_create_io(&h, &q, 1, QUEUE_ENTRIES, false, 0) ||
	    host_create_io(&h, &big, 2, 65536, false, 0)) {
		fprintf(stderr, "cannot create the IO queues\n");
		return 1;
	}
	printf("software controller, null mode, 4 KiB reads (512-byte LBAs, 8 blocks), one IO queue\n");
	if (argc > 2) {
		for (int i = 2; i < argc && !rc; i++)
			rc = run(&h, &q, (uint32_t)atoi(argv[i]) % QUEUE_ENTRIES, seconds);
	} else {
		for (size_t i = 0; i < sizeof(default_depths) / sizeof(default_depths[0]) && !rc; i++)
			rc = run(&h, &q, default_depths[i], seconds);
	}
	if (!rc)
		rc = ceiling(&h, &big, 15);
	host_close(&h);
	return rc;
}
