/* pynvme-perf: fio-like IO workloads on the ioworker engine, without Python.
 *
 *   pynvme-perf -d 0000:02:00.0 --rw randread --bs 4k --qd 32 --time 5
 *   pynvme-perf -d 01:00.0 -n 2 --rw randrw --rwmixread 70 --bs 4k-64k --verify --json
 *
 * The device must be bound to vfio-pci (tools/nvme-setup bind). Prints a
 * human summary, or one JSON object with --json; on a terminal a progress
 * line is updated every second. Exit status: 0, 1 for a worker error, 2 for
 * bad options, 3 when the device cannot be opened.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "controller.h"
#include "error.h"
#include "ioworker.h"
#include "rand.h"
#include "tsc.h"
#include "verify_table.h"
#include "transport.h"

static struct pn_ioworker *g_worker;

static void on_signal(int sig)
{
	(void)sig;
	if (g_worker)
		pn_ioworker_stop(g_worker);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pynvme-perf -d BDF [options]\n"
		"  -d, --device BDF        NVMe function bound to vfio-pci (e.g. 0000:02:00.0)\n"
		"  -n, --nsid N            namespace (1)\n"
		"      --rw MODE           randread|randwrite|randrw|read|write|rw (randread)\n"
		"      --rwmixread PCT     reads in randrw/rw (50)\n"
		"      --bs SIZE[-SIZE]    IO size in bytes, k/m suffixes; a range draws sizes (4k)\n"
		"      --qd N              IOs in flight, 1..1023 (32)\n"
		"  -t, --time SECONDS      run time (default: one pass for read/write, 10 s random)\n"
		"      --io-count N        stop after N IOs\n"
		"      --iops N            throttle to N IOs per second\n"
		"      --region START:END  LBAs [START, END) (whole namespace)\n"
		"      --verify            stamp and checksum data (CRC32C per LBA)\n"
		"      --verify-prefill    with --verify: write zeroes over the region first, so\n"
		"                          every read is checked\n"
		"      --pacing MODE       doorbell pacing: auto (measure and keep the best\n"
		"                          hold), off, or a fixed hold in ns (auto)\n"
		"      --cpu N             pin the worker to the N-th allowed core\n"
		"      --seed N            random seed (reproducible runs)\n"
		"      --json              one JSON object instead of the summary\n"
		"  -h, --help\n");
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);

	if (end == s)
		return -1;
	if (*end == 'k' || *end == 'K')
		v *= 1024, end++;
	else if (*end == 'm' || *end == 'M')
		v *= 1024 * 1024, end++;
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end && *end != '-')
		return -1;
	*out = v;
	return (int)(end - s);
}

struct opts {
	const char *bdf;
	uint32_t nsid;
	const char *rw;
	uint32_t rwmixread;
	uint64_t bs_min, bs_max;
	uint32_t qd;
	uint32_t time_s;
	uint64_t io_count;
	uint32_t iops;
	uint64_t region_start, region_end;
	int verify, prefill, json, cpu;
	int pacing_off;
	uint32_t pacing_hold_ns;
	uint64_t seed;
	int has_seed;
};

static int parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_RW = 256, O_MIX, O_BS, O_QD, O_COUNT, O_IOPS, O_REGION, O_VERIFY, O_PREFILL,
	       O_CPU, O_SEED, O_JSON, O_PACING };
	static const struct option lopts[] = {
		{"device", required_argument, 0, 'd'}, {"nsid", required_argument, 0, 'n'},
		{"rw", required_argument, 0, O_RW}, {"rwmixread", required_argument, 0, O_MIX},
		{"bs", required_argument, 0, O_BS}, {"qd", required_argument, 0, O_QD},
		{"time", required_argument, 0, 't'}, {"io-count", required_argument, 0, O_COUNT},
		{"iops", required_argument, 0, O_IOPS}, {"region", required_argument, 0, O_REGION},
		{"verify", no_argument, 0, O_VERIFY}, {"verify-prefill", no_argument, 0, O_PREFILL},
		{"cpu", required_argument, 0, O_CPU}, {"seed", required_argument, 0, O_SEED},
		{"json", no_argument, 0, O_JSON}, {"pacing", required_argument, 0, O_PACING},
		{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	int c, n;

	*o = (struct opts){.nsid = 1, .rw = "randread", .rwmixread = 50, .bs_min = 4096,
			   .bs_max = 4096, .qd = 32, .cpu = -1};
	while ((c = getopt_long(argc, argv, "d:n:t:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->bdf = optarg; break;
		case 'n': o->nsid = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 't': o->time_s = (uint32_t)strtoul(optarg, NULL, 0); break;
		case O_RW: o->rw = optarg; break;
		case O_MIX: o->rwmixread = (uint32_t)strtoul(optarg, NULL, 0); break;
		case O_BS:
			n = parse_size(optarg, &o->bs_min);
			if (n < 0)
				goto bad;
			o->bs_max = o->bs_min;
			if (optarg[n] == '-' && parse_size(optarg + n + 1, &o->bs_max) < 0)
				goto bad;
			break;
		case O_QD: o->qd = (uint32_t)strtoul(optarg, NULL, 0); break;
		case O_COUNT: o->io_count = strtoull(optarg, NULL, 0); break;
		case O_IOPS: o->iops = (uint32_t)strtoul(optarg, NULL, 0); break;
		case O_REGION:
			if (sscanf(optarg, "%llu:%llu", (unsigned long long *)&o->region_start,
				   (unsigned long long *)&o->region_end) != 2)
				goto bad;
			break;
		case O_VERIFY: o->verify = 1; break;
		case O_PREFILL: o->prefill = 1; break;
		case O_CPU: o->cpu = atoi(optarg); break;
		case O_SEED: o->seed = strtoull(optarg, NULL, 0); o->has_seed = 1; break;
		case O_JSON: o->json = 1; break;
		case O_PACING: {
			char *end;

			if (!strcmp(optarg, "auto"))
				break;
			if (!strcmp(optarg, "off")) {
				o->pacing_off = 1;
				break;
			}
			o->pacing_hold_ns = (uint32_t)strtoul(optarg, &end, 0);
			if (*end || end == optarg || o->pacing_hold_ns > 1000000) {
				fprintf(stderr, "pynvme-perf: --pacing takes auto, off or a hold "
					"of 0..1000000 ns, not '%s'\n", optarg);
				goto bad;
			}
			o->pacing_off = o->pacing_hold_ns == 0;
			break;
		}
		case 'h': usage(stdout); exit(0);
		default: goto bad;
		}
	}
	if (!o->bdf) {
		fprintf(stderr, "pynvme-perf: -d BDF is required\n");
		goto bad;
	}
	return 0;
bad:
	usage(stderr);
	return -1;
}

/* Fills the workload of `o` on a namespace of `cap` LBAs of `lba_size`. */
static int build_config(const struct opts *o, struct pn_ctrl *c, uint64_t cap, uint32_t lba_size,
			struct pn_ioworker_config *cfg)
{
	struct pn_workload_params *p = &cfg->wl;
	const char *rw = o->rw;
	int random = !strncmp(rw, "rand", 4);
	const char *kind = random ? rw + 4 : rw;

	memset(cfg, 0, sizeof(*cfg));
	cfg->ctrl = c;
	cfg->nsid = o->nsid;
	cfg->cpu = o->cpu;
	cfg->iops = o->iops;
	cfg->pacing_off = o->pacing_off;
	cfg->pacing_hold_ns = o->pacing_hold_ns;
	cfg->ptype = 0xbeef;
	cfg->pvalue = 100;
	p->ns_capacity = cap;
	p->lba_size = lba_size;
	p->max_xfer_bytes = c->mdts_bytes;
	p->max_queue_entries = c->mqes;
	if (o->bs_min % lba_size || o->bs_max % lba_size || !o->bs_min || o->bs_max < o->bs_min) {
		fprintf(stderr, "pynvme-perf: --bs must be multiples of the %u-byte LBA\n", lba_size);
		return -1;
	}
	if (o->bs_min == o->bs_max) {
		p->size_kind = PN_WL_SIZE_FIXED;
		p->size_min = (uint32_t)(o->bs_min / lba_size);
	} else {
		p->size_kind = PN_WL_SIZE_RANGE;
		p->size_min = (uint32_t)(o->bs_min / lba_size);
		p->size_max = (uint32_t)(o->bs_max / lba_size);
		p->size_step = p->size_min;
	}
	p->lba_random = random ? 100 : 0;
	if (!strcmp(kind, "read"))
		p->read_percentage = 100;
	else if (!strcmp(kind, "write"))
		p->read_percentage = 0;
	else if (!strcmp(kind, "rw"))
		p->read_percentage = o->rwmixread;
	else {
		fprintf(stderr, "pynvme-perf: unknown --rw %s\n", rw);
		return -1;
	}
	if (p->read_percentage)
		p->ops[p->nops++] = (struct pn_wl_op){PN_OP_READ, p->read_percentage};
	if (p->read_percentage < 100)
		p->ops[p->nops++] = (struct pn_wl_op){PN_OP_WRITE, 100 - p->read_percentage};
	if (o->qd < 1 || o->qd > PN_WL_QDEPTH_MAX - 1) {
		fprintf(stderr, "pynvme-perf: --qd %u out of range 1..%u\n", o->qd,
			PN_WL_QDEPTH_MAX - 1);
		return -1;
	}
	p->qdepth = o->qd + 1;   /* IOs in flight, fio's meaning: a queue one larger */
	p->time_s = o->time_s;
	if (random && !o->time_s && !o->io_count)
		p->time_s = 10;
	p->io_count = o->io_count;
	p->region_start = o->region_start;
	p->region_end = o->region_end;
	p->rand_stream = 1;
	cfg->max_seconds = p->time_s ? p->time_s + 2 : 86400;
	return 0;
}

static int run(struct pn_ioworker_config *cfg, const struct opts *o, int progress,
	       const struct pn_ioworker_result **res, struct pn_ioworker **wout)
{
	struct pn_ioworker *w;
	int rc = pn_ioworker_create(cfg, &w);
	uint64_t last = 0;
	unsigned sec = 0;

	if (rc < 0) {
		fprintf(stderr, "pynvme-perf: %s\n", pn_last_error());
		return -1;
	}
	g_worker = w;
	rc = pn_ioworker_start(w);
	if (rc < 0) {
		fprintf(stderr, "pynvme-perf: %s\n", pn_last_error());
		pn_ioworker_free(w);
		return -1;
	}
	while (!pn_ioworker_finished(w)) {
		struct pn_ioworker_progress p;

		/* asleep until the worker ends or the next progress second */
		if (pn_ioworker_wait_finished(w, 1000))
			break;
		pn_ioworker_progress(w, &p);
		sec++;
		if (progress) {
			fprintf(stdout, "\r[%4us] %10.0f IOPS %8.1f MB/s  total %llu IOs   ", sec,
				(double)(p.completed - last),
				(double)(p.completed - last) * (double)o->bs_min / 1e6,
				(unsigned long long)p.completed);
			fflush(stdout);
		}
		last = p.completed;
	}
	if (progress)
		fprintf(stdout, "\r%70s\r", "");
	g_worker = NULL;
	*res = pn_ioworker_wait(w);
	*wout = w;
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct pn_transport *pci;
	struct pn_ctrl *c;
	struct nvme_id_ns *id;
	struct pn_verify_table table = {0};
	struct pn_ioworker_config cfg;
	const struct pn_ioworker_result *r;
	struct pn_ioworker *w;
	uint32_t lba_size;
	unsigned fmt;
	int rc, status;

	if (parse_args(argc, argv, &o) < 0)
		return 2;
	if (o.has_seed)
		pn_rand_seed(o.seed);
	if ((rc = pn_transport_open(o.bdf, &pci)) < 0) {
		fprintf(stderr, "pynvme-perf: %s: %s\n", o.bdf, pn_last_error());
		return 3;
	}
	if ((rc = pn_ctrl_open(pci, &c)) < 0 || (rc = pn_ctrl_init(c)) < 0) {
		fprintf(stderr, "pynvme-perf: %s: %s\n", o.bdf, pn_last_error());
		return 3;
	}
	id = calloc(1, sizeof(*id));
	if (!id || pn_ctrl_identify(c, NVME_IDENTIFY_CNS_NS, o.nsid, 0, 0, id) < 0 || !id->nsze) {
		fprintf(stderr, "pynvme-perf: namespace %u: %s\n", o.nsid,
			id && id->nsze == 0 ? "not active" : pn_last_error());
		return 3;
	}
	fmt = (id->flbas & 0xf) | ((id->flbas >> 5) & 3) << 4;
	lba_size = 1u << id->lbaf[fmt].ds;
	if (build_config(&o, c, id->nsze, lba_size, &cfg) < 0)
		return 2;
	if (o.verify) {
		uint64_t end = o.region_end && o.region_end < id->nsze ? o.region_end : id->nsze;

		if ((rc = pn_verify_table_init(&table, end, lba_size)) < 0) {
			fprintf(stderr, "pynvme-perf: %s\n", pn_last_error());
			return 3;
		}
		cfg.verify = &table;
		cfg.trim_reads_zeroes = (id->dlfeat & 7) == 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (o.verify && o.prefill) {
		/* one sequential pass of write zeroes records the region as zeroes */
		struct pn_ioworker_config pre = cfg;
		struct pn_ioworker *pw;
		const struct pn_ioworker_result *pr;

		pre.iops = 0;
		pre.wl.nops = 1;
		pre.wl.ops[0] = (struct pn_wl_op){PN_OP_WRITE_ZEROES, 100};
		pre.wl.lba_random = 0;
		pre.wl.time_s = 0;
		pre.wl.io_count = 0;
		pre.wl.size_kind = PN_WL_SIZE_FIXED;
		pre.wl.size_min = (uint32_t)(o.bs_max / lba_size);
		if (run(&pre, &o, 0, &pr, &pw) < 0)
			return 1;
		if (pr->error_code) {
			fprintf(stderr, "pynvme-perf: prefill: ERROR %d: %s\n", pr->error_code,
				pr->error_text);
			return 1;
		}
		pn_ioworker_free(pw);
	}
	if (run(&cfg, &o, !o.json && isatty(STDOUT_FILENO), &r, &w) < 0)
		return 1;

	{
		uint64_t ios = r->io_count_read + r->io_count_nonread;
		/* the run's duration to the ns: whole ms would add up to 1 ms's
		 * worth of IOPS */
		double secs = r->run_ns / 1e9, iops = secs > 0 ? ios / secs : 0;
		double mean_us = pn_hist_mean(&r->latency) / 1000.0;
		char text[2 * sizeof(r->error_text)];
		size_t k = 0;

		/* a JSON string: quotes and backslashes escaped, control
		 * characters (none expected) dropped */
		for (const char *t = r->error_text; *t && k + 2 < sizeof(text); t++) {
			if (*t == '"' || *t == '\\')
				text[k++] = '\\';
			if ((unsigned char)*t >= 0x20)
				text[k++] = *t;
		}
		text[k] = 0;
		if (o.json) {
			printf("{\"device\": \"%s\", \"nsid\": %u, \"rw\": \"%s\", \"bs\": %llu, "
			       "\"qd\": %u, \"verify\": %s, \"ios\": %llu, \"reads\": %llu, "
			       "\"writes\": %llu, \"mseconds\": %llu, \"iops\": %.1f, "
			       "\"mbps\": %.2f, \"lat_mean_us\": %.2f, \"lat_min_us\": %.2f, "
			       "\"lat_p50_us\": %.2f, \"lat_p99_us\": %.2f, \"lat_p999_us\": %.2f, "
			       "\"lat_max_us\": %.2f, \"cpu_usage\": %.3f, \"cpu_ns_per_io\": %.0f, "
			       "\"mmio_per_io\": %.3f, \"work_ns_per_io\": %.1f, \"work_turns_dropped\": %llu, "
			       "\"pacing_hold_ns\": %u, \"error\": %d, \"error_status\": %u, "
			       "\"error_text\": \"%s\", \"io_per_second\": [",
			       o.bdf, o.nsid, o.rw, (unsigned long long)o.bs_min, o.qd,
			       o.verify ? "true" : "false", (unsigned long long)ios,
			       (unsigned long long)r->io_count_read, (unsigned long long)r->io_count_write,
			       (unsigned long long)r->mseconds, iops, iops * (double)o.bs_min / 1e6,
			       mean_us, r->latency.count ? r->latency.min / 1000.0 : 0.0,
			       pn_hist_percentile(&r->latency, 50) / 1000.0,
			       pn_hist_percentile(&r->latency, 99) / 1000.0,
			       pn_hist_percentile(&r->latency, 99.9) / 1000.0, r->latency.max / 1000.0,
			       r->cpu_usage, ios ? (double)r->cpu_ns / ios : 0.0,
			       ios ? (double)(r->sq_doorbells + r->cq_doorbells) / ios : 0.0,
			       ios ? (double)r->work_ns / ios : 0.0,
			       (unsigned long long)r->work_turns_dropped,
			       r->pacing_hold_ns, r->error_code, r->error_status, text);
			for (uint32_t i = 0; i < r->nseconds; i++)
				printf("%s%u", i ? ", " : "", r->io_per_second[i]);
			printf("]}\n");
		} else {
			printf("%s nsid %u: %s bs=%llu qd=%u%s, %.2f s\n", o.bdf, o.nsid, o.rw,
			       (unsigned long long)o.bs_min, o.qd, o.verify ? " verify" : "", secs);
			printf("  IOs      %llu (read %llu, write %llu)\n", (unsigned long long)ios,
			       (unsigned long long)r->io_count_read, (unsigned long long)r->io_count_write);
			printf("  IOPS     %.0f   bandwidth %.1f MB/s\n", iops,
			       iops * (double)o.bs_min / 1e6);
			printf("  latency  mean %.1f us  p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f us\n",
			       mean_us, pn_hist_percentile(&r->latency, 50) / 1000.0,
			       pn_hist_percentile(&r->latency, 99) / 1000.0,
			       pn_hist_percentile(&r->latency, 99.9) / 1000.0, r->latency.max / 1000.0);
			printf("  cpu      %.0f%% of one core, %.0f ns per IO\n", r->cpu_usage * 100,
			       ios ? (double)r->cpu_ns / ios : 0.0);
			printf("  doorbell %.3f MMIO writes per IO, hold %u ns (%s)\n",
			       ios ? (double)(r->sq_doorbells + r->cq_doorbells) / ios : 0.0,
			       r->pacing_hold_ns, o.pacing_off ? "pacing off" :
			       o.pacing_hold_ns ? "fixed" : o.iops ? "throttled: no pacing" : "auto");
			if (r->error_code)
				printf("  ERROR %d (%s): %s\n", r->error_code,
				       pn_ioworker_error_name(r->error_code), r->error_text);
		}
	}
	status = r->error_code ? 1 : 0;
	pn_ioworker_free(w);
	if (o.verify)
		pn_verify_table_free(&table);
	pn_ctrl_close(c);
	pn_transport_close(pci);
	free(id);
	return status;
}
