/* The cost-per-IO bench's verified row in C (bench/cost_per_io.sh): the
 * ioworker reading 4 KiB at random with CRC32C verification of every read,
 * against the software controller with its RAM store (null mode moves no
 * data, so a read there is never checksummed: see bench/cost_py_rows.py).
 * One sequential write pass records each LBA's CRC32C, then one random read
 * run per QD. What the Python row cannot give: the worker's work time per IO
 * (result.work_ns), which a busy machine does not bend.
 *
 *   cost_crc SECONDS QD [QD ...]      one JSON object per QD on stdout
 *
 * Same placement as pynvme-perf in the table: worker on CPU 0, controller
 * thread on CPU 1, spinning.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "error.h"
#include "ioworker.h"
#include "transport.h"
#include "verify_table.h"

#define ADDR "soft:lba=4096,size=1G,cpu=1,spin"
#define REGION_LBAS 16384u   /* 64 MiB, as cost_py_rows.py */

static void config(struct pn_ioworker_config *cfg, struct pn_ctrl *c, struct pn_verify_table *t,
		   uint32_t qd, uint32_t seconds, bool write_pass)
{
	struct pn_workload_params *p = &cfg->wl;

	memset(cfg, 0, sizeof(*cfg));
	cfg->ctrl = c;
	cfg->nsid = 1;
	cfg->cpu = 0;
	cfg->verify = t;
	cfg->ptype = 0xbeef;
	cfg->pvalue = 100;
	p->ns_capacity = t->nlba;
	p->lba_size = 4096;
	p->max_xfer_bytes = c->mdts_bytes;
	p->max_queue_entries = c->mqes;
	p->size_kind = PN_WL_SIZE_FIXED;
	p->size_min = 1;
	p->region_end = REGION_LBAS;
	p->qdepth = qd + 1;             /* QD in flight: a queue one larger */
	p->rand_stream = 1;
	p->nops = 1;
	if (write_pass) {
		p->ops[0] = (struct pn_wl_op){PN_OP_WRITE, 100};
		p->read_percentage = 0;
		p->io_count = REGION_LBAS;
	} else {
		p->ops[0] = (struct pn_wl_op){PN_OP_READ, 100};
		p->read_percentage = 100;
		p->lba_random = 100;
		p->time_s = seconds;
	}
	cfg->max_seconds = seconds + 2;
}

static const struct pn_ioworker_result *run(struct pn_ioworker_config *cfg, struct pn_ioworker **w)
{
	const struct pn_ioworker_result *r;

	if (pn_ioworker_create(cfg, w) < 0 || pn_ioworker_start(*w) < 0) {
		fprintf(stderr, "cost_crc: %s\n", pn_last_error());
		exit(1);
	}
	r = pn_ioworker_wait(*w);
	if (r->error_code) {
		fprintf(stderr, "cost_crc: worker error %d: %s\n", r->error_code, r->error_text);
		exit(1);
	}
	return r;
}

int main(int argc, char **argv)
{
	struct pn_transport *tr;
	struct pn_ctrl *c;
	struct pn_verify_table table = {0};
	struct pn_ioworker_config cfg;
	struct pn_ioworker *w;
	uint32_t seconds = argc > 1 ? (uint32_t)atoi(argv[1]) : 2;

	if (pn_transport_open(ADDR, &tr) < 0 || pn_ctrl_open(tr, &c) < 0 || pn_ctrl_init(c) < 0 ||
	    pn_verify_table_init(&table, (1ull << 30) / 4096, 4096) < 0) {
		fprintf(stderr, "cost_crc: %s: %s\n", ADDR, pn_last_error());
		return 1;
	}
	config(&cfg, c, &table, 63, 60, true);
	run(&cfg, &w);
	pn_ioworker_free(w);
	for (int i = 2; i < argc; i++) {
		uint32_t qd = (uint32_t)atoi(argv[i]);
		const struct pn_ioworker_result *r;
		double ios;

		config(&cfg, c, &table, qd, seconds, false);
		r = run(&cfg, &w);
		ios = (double)r->io_count_read;
		printf("{\"row\": \"crc\", \"qd\": %u, \"ios\": %.0f, \"seconds\": %.3f, \"iops\": %.1f, "
		       "\"cpu_ns\": %llu, \"cpu_usage\": %.3f, \"work_ns\": %llu, \"lat_p50_us\": %.2f, "
		       "\"lat_p99_us\": %.2f, \"lat_p999_us\": %.2f, \"error\": 0}\n",
		       qd, ios, r->run_ns / 1e9, ios / (r->run_ns / 1e9), (unsigned long long)r->cpu_ns,
		       r->cpu_usage, (unsigned long long)r->work_ns,
		       pn_hist_percentile(&r->latency, 50) / 1000.0,
		       pn_hist_percentile(&r->latency, 99) / 1000.0,
		       pn_hist_percentile(&r->latency, 99.9) / 1000.0);
		fflush(stdout);
		pn_ioworker_free(w);
	}
	pn_verify_table_free(&table);
	pn_ctrl_close(c);
	pn_transport_close(tr);
	return 0;
}
