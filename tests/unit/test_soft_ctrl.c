/* The software NVMe controller driven by a minimal host (soft_ctrl_host.h):
 * registers and the CC/CSTS state machine, admin commands and their status
 * codes, the NVM command set through PRPs and PRP lists, null mode. Faults
 * are in test_soft_ctrl_fault.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <cmocka.h>

#include "prp.h"
#include "soft_ctrl_host.h"

#define NS1_BLOCKS 8192u      /* 4 MiB of 512-byte blocks */
#define NS2_BLOCKS 1024u      /* 4 MiB of 4 KiB blocks */
#define ARENA (16u << 20)

static void config(struct soft_ctrl_config *cfg, bool null_mode)
{
	soft_ctrl_config_default(cfg);
	cfg->nr_ns = 2;
	cfg->ns[0].blocks = NS1_BLOCKS;
	cfg->ns[0].lba_size = 512;
	cfg->ns[1].blocks = NS2_BLOCKS;
	cfg->ns[1].lba_size = 4096;
	cfg->mdts = 5;                /* 128 KiB */
	cfg->max_queue_entries = 256;
	cfg->nr_io_queues = 8;
	cfg->nr_vectors = 8;
	cfg->dstrd = 1;               /* 8-byte doorbell stride: offsets must follow it */
	cfg->serial = "TESTSN42";
	cfg->model = "soft ctrl under test";
	cfg->null_mode = null_mode;
}

static int setup_mode(void **state, bool null_mode)
{
	struct host *h = calloc(1, sizeof(*h));
	struct soft_ctrl_config cfg;

	config(&cfg, null_mode);
	if (!h || host_open(h, &cfg, ARENA))
		return -1;
	if (!host_enable(h))
		return -1;
	*state = h;
	return 0;
}

static int setup(void **state)
{
	return setup_mode(state, false);
}

static int setup_null(void **state)
{
	return setup_mode(state, true);
}

static int teardown(void **state)
{
	struct host *h = *state;

	host_close(h);
	free(h);
	return 0;
}

static uint16_t admin(struct host *h, struct pn_sqe *cmd, struct pn_cqe *cqe)
{
	return host_status(host_cmd(h, &h->admin, cmd, cqe));
}

static uint16_t identify(struct host *h, uint8_t cns, uint32_t nsid, void *page)
{
	struct pn_sqe cmd = {.opc = nvme_admin_identify, .nsid = nsid, .cdw10 = cns};

	cmd.prp1 = host_iova(h, page);
	return admin(h, &cmd, NULL);
}

static uint16_t io(struct host *h, struct host_queue *q, uint8_t opc, uint32_t nsid,
		   uint64_t slba, uint32_t nlb, uint64_t prp1, uint64_t prp2)
{
	struct pn_sqe cmd = {.opc = opc, .nsid = nsid, .prp1 = prp1, .prp2 = prp2};

	cmd.cdw10 = (uint32_t)slba;
	cmd.cdw11 = (uint32_t)(slba >> 32);
	cmd.cdw12 = nlb - 1;
	return host_status(host_cmd(h, q, &cmd, NULL));
}

/* ---- registers ---- */

static void registers_at_power_on(void **state)
{
	struct soft_ctrl_config cfg;
	struct host h;
	uint64_t cap;

	config(&cfg, false);
	assert_int_equal(host_open(&h, &cfg, 1u << 20), 0);
	cap = host_rd64(&h, NVME_REG_CAP);
	assert_int_equal(NVME_CAP_MQES(cap), 255);
	assert_int_equal(NVME_CAP_CQR(cap), 1);
	assert_int_equal(NVME_CAP_DSTRD(cap), 1);
	assert_true(NVME_CAP_TO(cap) > 0);
	assert_true(NVME_CAP_CSS(cap) & NVME_CAP_CSS_NVM);
	assert_int_equal(NVME_CAP_MPSMIN(cap), 0);
	assert_int_equal(host_rd32(&h, NVME_REG_VS), 0x00010400);
	assert_int_equal(host_rd32(&h, NVME_REG_CC), 0);
	assert_int_equal(host_rd32(&h, NVME_REG_CSTS), 0);
	/* Every doorbell lies inside BAR0, of at least 16 KiB (NVMe 1.4
	 * §2.1.10: MLBAR bits 13:4 reserved). */
	assert_true(soft_ctrl_bar0_size(h.sc) >= pn_cq_doorbell_offset(8, 1) + 4);
	assert_true(soft_ctrl_bar0_size(h.sc) >= 16384);
	host_close(&h);
}

static void config_checked(void **state)
{
	struct soft_ctrl_config cfg;
	struct soft_ctrl *sc;

	config(&cfg, false);
	assert_int_equal(soft_ctrl_create(&cfg, &sc), -EINVAL);  /* no translator */
	cfg.iova_to_vaddr = host_iova_to_vaddr;
	cfg.ns[0].lba_size = 520;
	assert_int_equal(soft_ctrl_create(&cfg, &sc), -EINVAL);
	config(&cfg, false);
	cfg.iova_to_vaddr = host_iova_to_vaddr;
	cfg.max_queue_entries = 1;
	assert_int_equal(soft_ctrl_create(&cfg, &sc), -EINVAL);
	config(&cfg, false);
	cfg.iova_to_vaddr = host_iova_to_vaddr;
	cfg.nr_ns = 0;
	assert_int_equal(soft_ctrl_create(&cfg, &sc), -EINVAL);
}

static void enable_bad_page_size_is_fatal(void **state)
{
	struct soft_ctrl_config cfg;
	struct host h;

	config(&cfg, false);
	assert_int_equal(host_open(&h, &cfg, 1u << 20), 0);
	host_queue_init(&h, &h.admin, 0, 32);
	host_wr32(&h, NVME_REG_AQA, 31u << 16 | 31u);
	host_wr64(&h, NVME_REG_ASQ, host_iova(&h, h.admin.sq));
	host_wr64(&h, NVME_REG_ACQ, host_iova(&h, h.admin.cq));
	host_wr32(&h, NVME_REG_CC, 1 | 15u << NVME_CC_MPS_SHIFT);  /* 128 MiB pages: beyond MPSMAX */
	assert_true(host_wait_csts(&h, NVME_CSTS_CFS_MASK << NVME_CSTS_CFS_SHIFT, 2));
	assert_int_equal(host_rd32(&h, NVME_REG_CSTS) & 1, 0);
	/* A reset clears the fatal status; a good enable then works. */
	host_wr32(&h, NVME_REG_CC, 0);
	assert_true(host_wait_csts(&h, 3, 0));
	assert_true(host_enable(&h));
	host_close(&h);
}

static void admin_queue_outside_memory_is_fatal(void **state)
{
	struct soft_ctrl_config cfg;
	struct host h;

	config(&cfg, false);
	assert_int_equal(host_open(&h, &cfg, 1u << 20), 0);
	host_wr32(&h, NVME_REG_AQA, 31u << 16 | 31u);
	host_wr64(&h, NVME_REG_ASQ, 0x1000);    /* the translator refuses it */
	host_wr64(&h, NVME_REG_ACQ, 0x2000);
	host_wr32(&h, NVME_REG_CC, 1);
	assert_true(host_wait_csts(&h, 2, 2));
	host_close(&h);
}

/* ---- identify ---- */

static void identify_controller(void **state)
{
	struct host *h = *state;
	struct nvme_id_ctrl *id = host_alloc(h, 4096);

	memset(id, 0xee, 4096);
	assert_int_equal(identify(h, NVME_IDENTIFY_CNS_CTRL, 0, id), 0);
	assert_memory_equal(id->sn, "TESTSN42            ", 20);
	assert_memory_equal(id->mn, "soft ctrl under test", 20);
	assert_int_equal(id->mdts, 5);
	assert_int_equal(id->nn, SOFT_CTRL_MAX_NS);
	assert_int_equal(id->sqes, 0x66);
	assert_int_equal(id->cqes, 0x44);
	assert_int_equal(id->ver, 0x00010400);
	assert_true(id->oncs & NVME_CTRL_ONCS_COMPARE);
	assert_true(id->oncs & NVME_CTRL_ONCS_DSM);
	assert_true(id->oncs & NVME_CTRL_ONCS_WRITE_ZEROES);
	assert_true(id->oncs & NVME_CTRL_ONCS_WRITE_UNCORRECTABLE);
	assert_int_equal(id->aerl, 3);
	/* a volatile write cache, flushed for every namespace with NSID FFFFFFFFh */
	assert_int_equal(id->vwc, NVME_CTRL_VWC_PRESENT | NVME_CTRL_VWC_FLUSH);
	assert_int_equal(id->lpa, NVME_CTRL_LPA_CMD_EFFECTS | NVME_CTRL_LPA_EXTENDED);
	assert_int_equal(id->kas, 0);     /* no Keep Alive */
	assert_true(id->oncs & NVME_CTRL_ONCS_SAVE_FEATURES);
	assert_true(id->oncs & NVME_CTRL_ONCS_TIMESTAMP);
	assert_int_equal(id->sgls & 3, 1);
	assert_int_equal(id->vs[0], 0);   /* the whole page was written */
}

static void identify_namespaces(void **state)
{
	struct host *h = *state;
	struct nvme_id_ns *ns = host_alloc(h, 4096);
	uint32_t *list = host_alloc(h, 4096);
	uint8_t *desc = host_alloc(h, 4096);

	assert_int_equal(identify(h, NVME_IDENTIFY_CNS_NS, 1, ns), 0);
	assert_int_equal(ns->nsze, NS1_BLOCKS);
	assert_int_equal(ns->ncap, NS1_BLOCKS);
	assert_int_equal(ns->lbaf[ns->flbas & 0xf].ds, 9);
	assert_int_equal(ns->dlfeat & 7, 1);
	assert_int_equal(identify(h, NVME_IDENTIFY_CNS_NS, 2, ns), 0);
	assert_int_equal(ns->nsze, NS2_BLOCKS);
	assert_int_equal(ns->lbaf[ns->flbas & 0xf].ds, 12);

	assert_int_equal(identify(h, NVME_IDENTIFY_CNS_NS_ACTIVE_LIST, 0, list), 0);
	assert_int_equal(list[0], 1);
	assert_int_equal(list[1], 2);
	assert_int_equal(list[2], 0);
	assert_int_equal(identify(h, NVME_IDENTIFY_CNS_NS_ACTIVE_LIST, 1, list), 0);
	assert_int_equal(list[0], 2);
	assert_int_equal(list[1], 0);

	assert_int_equal(identify(h, NVME_IDENTIFY_CNS_NS_DESC_LIST, 2, desc), 0);
	assert_int_equal(desc[0], NVME_NIDT_NGUID);
	assert_int_equal(desc[1], 16);
	assert_int_equal(desc[20], NVME_NIDT_CSI);
	assert_int_equal(desc[21], 1);

	/* NSID 3 is inactive (below NN): zeroes; above NN: invalid */
	memset(ns, 0xa5, sizeof(*ns));
	assert_int_equal(identify(h, NVME_IDENTIFY_CNS_NS, 3, ns), 0);
	assert_int_equal(ns->nsze, 0);
	assert_int_equal(identify(h, NVME_IDENTIFY_CNS_NS, SOFT_CTRL_MAX_NS + 1, ns),
			 st(0, NVME_SC_INVALID_NS));
	assert_int_equal(identify(h, NVME_IDENTIFY_CNS_NS, 0, ns), st(0, NVME_SC_INVALID_NS));
	assert_int_equal(identify(h, NVME_IDENTIFY_CNS_NS_DESC_LIST, 9, desc), st(0, NVME_SC_INVALID_NS));
	assert_int_equal(identify(h, 0x55, 0, ns), st(0, NVME_SC_INVALID_FIELD));
}

static void identify_data_transfer_error(void **state)
{
	struct host *h = *state;
	struct pn_sqe cmd = {.opc = nvme_admin_identify, .cdw10 = 1, .prp1 = 0x1000};

	/* An address the translator refuses: an IOMMU fault on a drive. */
	assert_int_equal(admin(h, &cmd, NULL), st(0, NVME_SC_DATA_XFER_ERROR));
}

static void unknown_admin_opcode(void **state)
{
	struct host *h = *state;
	struct pn_sqe cmd = {.opc = 0xc3};
	struct pn_cqe cqe;

	assert_int_equal(admin(h, &cmd, &cqe), st(0, NVME_SC_INVALID_OPCODE));
	assert_true(cqe.status & 0x8000);   /* DNR */
	assert_int_equal(cqe.sqid, 0);
	assert_int_equal(cqe.sqhd, h->admin.sq_tail);
	/* Fused admin commands are not supported. */
	struct pn_sqe fused = {.opc = nvme_admin_keep_alive, .flags = 1};

	assert_int_equal(admin(h, &fused, NULL), st(0, NVME_SC_INVALID_FIELD));
}

/* ---- features ---- */

static uint16_t set_feature(struct host *h, uint8_t fid, uint32_t cdw11, uint32_t *dw0)
{
	struct pn_sqe cmd = {.opc = nvme_admin_set_features, .cdw10 = fid, .cdw11 = cdw11};
	struct pn_cqe cqe = {0};
	uint16_t s = admin(h, &cmd, &cqe);

	if (dw0)
		*dw0 = cqe.dw0;
	return s;
}

static uint16_t get_feature(struct host *h, uint8_t fid, unsigned sel, uint32_t cdw11, uint32_t *dw0)
{
	struct pn_sqe cmd = {.opc = nvme_admin_get_features, .cdw10 = fid | sel << 8, .cdw11 = cdw11};
	struct pn_cqe cqe = {0};
	uint16_t s = admin(h, &cmd, &cqe);

	*dw0 = cqe.dw0;
	return s;
}

static void features_keep_values(void **state)
{
	struct host *h = *state;
	uint32_t v;

	assert_int_equal(set_feature(h, NVME_FEAT_FID_ARBITRATION, 0x01020303, NULL), 0);
	assert_int_equal(get_feature(h, NVME_FEAT_FID_ARBITRATION, 0, 0, &v), 0);
	assert_int_equal(v, 0x01020303);
	assert_int_equal(get_feature(h, NVME_FEAT_FID_ARBITRATION, 1, 0, &v), 0);
	assert_int_equal(v, 0);                              /* default */
	assert_int_equal(get_feature(h, NVME_FEAT_FID_ARBITRATION, 3, 0, &v), 0);
	assert_int_equal(v, 1 << 2);                         /* changeable */

	assert_int_equal(set_feature(h, NVME_FEAT_FID_POWER_MGMT, 0, NULL), 0);
	assert_int_equal(set_feature(h, NVME_FEAT_FID_POWER_MGMT, 1, NULL), st(0, NVME_SC_INVALID_FIELD));

	assert_int_equal(set_feature(h, NVME_FEAT_FID_TEMP_THRESH, 350, NULL), 0);
	assert_int_equal(set_feature(h, NVME_FEAT_FID_TEMP_THRESH, 1u << 20 | 260, NULL), 0);
	assert_int_equal(get_feature(h, NVME_FEAT_FID_TEMP_THRESH, 0, 0, &v), 0);
	assert_int_equal(v, 350);
	assert_int_equal(get_feature(h, NVME_FEAT_FID_TEMP_THRESH, 0, 1u << 20, &v), 0);
	assert_int_equal(v, 260);
	assert_int_equal(set_feature(h, NVME_FEAT_FID_TEMP_THRESH, 9u << 16, NULL), st(0, NVME_SC_INVALID_FIELD));
	/* Sensor 1 is implemented (the SMART log reports it), 2..8 are not
	 * (NVMe 1.4 §5.21.1.4); 1111b sets every one, only in Set. */
	assert_int_equal(set_feature(h, NVME_FEAT_FID_TEMP_THRESH, 1u << 16 | 345, NULL), 0);
	assert_int_equal(get_feature(h, NVME_FEAT_FID_TEMP_THRESH, 0, 1u << 16, &v), 0);
	assert_int_equal(v, 345);
	assert_int_equal(set_feature(h, NVME_FEAT_FID_TEMP_THRESH, 2u << 16 | 345, NULL),
			 st(0, NVME_SC_INVALID_FIELD));
	assert_int_equal(get_feature(h, NVME_FEAT_FID_TEMP_THRESH, 0, 8u << 16, &v),
			 st(0, NVME_SC_INVALID_FIELD));
	assert_int_equal(set_feature(h, NVME_FEAT_FID_TEMP_THRESH, 15u << 16 | 340, NULL), 0);
	assert_int_equal(get_feature(h, NVME_FEAT_FID_TEMP_THRESH, 0, 0, &v), 0);
	assert_int_equal(v, 340);
	assert_int_equal(get_feature(h, NVME_FEAT_FID_TEMP_THRESH, 0, 1u << 16, &v), 0);
	assert_int_equal(v, 340);
	assert_int_equal(get_feature(h, NVME_FEAT_FID_TEMP_THRESH, 0, 15u << 16, &v),
			 st(0, NVME_SC_INVALID_FIELD));

	/* Error Recovery is per namespace (NVMe 1.4 §5.21.1.5): TLER kept per
	 * NSID, broadcast sets all, DULBE unsupported (NSFEAT bit 2 = 0). */
	struct pn_sqe er = {.opc = nvme_admin_set_features, .nsid = 1,
			    .cdw10 = NVME_FEAT_FID_ERR_RECOVERY, .cdw11 = 0x10};
	struct pn_cqe cqe;

	assert_int_equal(admin(h, &er, NULL), 0);
	er.nsid = 2;
	er.cdw11 = 0x20;
	assert_int_equal(admin(h, &er, NULL), 0);
	er.cdw11 = 1u << 16;
	assert_int_equal(admin(h, &er, NULL), st(0, NVME_SC_INVALID_FIELD));
	er.nsid = 3;                     /* inactive */
	er.cdw11 = 0;
	assert_int_equal(admin(h, &er, NULL), st(0, NVME_SC_INVALID_FIELD));
	er.nsid = 0;
	assert_int_equal(admin(h, &er, NULL), st(0, NVME_SC_INVALID_NS));
	er.opc = nvme_admin_get_features;
	er.nsid = 1;
	assert_int_equal(admin(h, &er, &cqe), 0);
	assert_int_equal(cqe.dw0, 0x10);
	er.nsid = 2;
	assert_int_equal(admin(h, &er, &cqe), 0);
	assert_int_equal(cqe.dw0, 0x20);
	er.cdw10 |= 3u << 8;             /* changeable, namespace specific */
	assert_int_equal(admin(h, &er, &cqe), 0);
	assert_int_equal(cqe.dw0, 1u << 2 | 1u << 1);
	er.cdw10 = NVME_FEAT_FID_ERR_RECOVERY;
	er.nsid = 0xffffffff;            /* broadcast: Set only */
	assert_int_equal(admin(h, &er, NULL), st(0, NVME_SC_INVALID_NS));
	er.opc = nvme_admin_set_features;
	er.cdw11 = 0x30;
	assert_int_equal(admin(h, &er, NULL), 0);
	er.opc = nvme_admin_get_features;
	er.nsid = 1;
	assert_int_equal(admin(h, &er, &cqe), 0);
	assert_int_equal(cqe.dw0, 0x30);

	/* Write Atomicity Normal (NVMe 1.4 §5.21.1.10): DN read-write. */
	assert_int_equal(set_feature(h, NVME_FEAT_FID_WRITE_ATOMIC, 1, NULL), 0);
	assert_int_equal(get_feature(h, NVME_FEAT_FID_WRITE_ATOMIC, 0, 0, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(get_feature(h, NVME_FEAT_FID_WRITE_ATOMIC, 1, 0, &v), 0);
	assert_int_equal(v, 0);
	/* Timestamp (NVMe 1.4 §5.21.1.14): the value set, advancing, origin
	 * 001b; before any Set, the time since reset with origin 000b. */
	uint8_t *ts = host_alloc(h, 4096);
	struct pn_sqe tcmd = {.opc = nvme_admin_get_features, .cdw10 = NVME_FEAT_FID_TIMESTAMP};
	uint64_t ms = 0, stamp = 1700000000000ull;

	tcmd.prp1 = host_iova(h, ts);
	assert_int_equal(admin(h, &tcmd, NULL), 0);
	memcpy(&ms, ts, 6);
	assert_true(ms < 600000);            /* since the reset of setup() */
	assert_int_equal(ts[6], 0);
	memcpy(ts, &stamp, 6);
	tcmd.opc = nvme_admin_set_features;
	assert_int_equal(admin(h, &tcmd, NULL), 0);
	memset(ts, 0, 8);
	tcmd.opc = nvme_admin_get_features;
	assert_int_equal(admin(h, &tcmd, NULL), 0);
	ms = 0;
	memcpy(&ms, ts, 6);
	assert_true(ms >= stamp && ms < stamp + 600000);
	assert_int_equal(ts[6], 1 << 1);

	/* Keep Alive Timer: KAS = 0, so not a feature of this controller. */
	assert_int_equal(set_feature(h, NVME_FEAT_FID_KATO, 100, NULL), st(0, NVME_SC_INVALID_FIELD));
	assert_int_equal(get_feature(h, NVME_FEAT_FID_KATO, 0, 0, &v), st(0, NVME_SC_INVALID_FIELD));

	assert_int_equal(set_feature(h, NVME_FEAT_FID_VOLATILE_WC, 0, NULL), 0);
	assert_int_equal(get_feature(h, NVME_FEAT_FID_VOLATILE_WC, 0, 0, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(set_feature(h, NVME_FEAT_FID_IRQ_COALESCE, 0x0a05, NULL), 0);
	assert_int_equal(get_feature(h, NVME_FEAT_FID_IRQ_COALESCE, 0, 0, &v), 0);
	assert_int_equal(v, 0x0a05);
	assert_int_equal(set_feature(h, NVME_FEAT_FID_IRQ_CONFIG, 1u << 16 | 3, NULL), 0);
	assert_int_equal(get_feature(h, NVME_FEAT_FID_IRQ_CONFIG, 0, 3, &v), 0);
	assert_int_equal(v, 1u << 16 | 3);
	assert_int_equal(set_feature(h, NVME_FEAT_FID_IRQ_CONFIG, 8, NULL), st(0, NVME_SC_INVALID_FIELD));
	assert_int_equal(set_feature(h, NVME_FEAT_FID_ASYNC_EVENT, 0x1ff, NULL), 0);
	assert_int_equal(get_feature(h, NVME_FEAT_FID_ASYNC_EVENT, 0, 0, &v), 0);
	assert_int_equal(v, 0x1ff);

	/* Save is not supported; unknown features are invalid. */
	struct pn_sqe cmd = {.opc = nvme_admin_set_features, .cdw10 = 1u << 31 | NVME_FEAT_FID_ARBITRATION};

	assert_int_equal(admin(h, &cmd, NULL), st(1, NVME_SC_FEATURE_NOT_SAVEABLE));
	assert_int_equal(set_feature(h, 0x7a, 0, NULL), st(0, NVME_SC_INVALID_FIELD));
	assert_int_equal(get_feature(h, NVME_FEAT_FID_ARBITRATION, 4, 0, &v), st(0, NVME_SC_INVALID_FIELD));
	assert_int_equal(get_feature(h, 0x7a, 0, 0, &v), st(0, NVME_SC_INVALID_FIELD));

	/* A controller reset brings the defaults back. */
	host_wr32(h, NVME_REG_CC, 0);
	assert_true(host_wait_csts(h, 1, 0));
	assert_true(host_enable(h));
	assert_int_equal(get_feature(h, NVME_FEAT_FID_ARBITRATION, 0, 0, &v), 0);
	assert_int_equal(v, 0);
}

static void number_of_queues(void **state)
{
	struct host *h = *state;
	struct host_queue q;
	uint32_t v;

	assert_int_equal(get_feature(h, NVME_FEAT_FID_NUM_QUEUES, 0, 0, &v), 0);
	assert_int_equal(v, 7u << 16 | 7u);
	assert_int_equal(set_feature(h, NVME_FEAT_FID_NUM_QUEUES, 100u << 16 | 1, &v), 0);
	assert_int_equal(v, 7u << 16 | 1u);                  /* capped at what we offer */
	assert_int_equal(set_feature(h, NVME_FEAT_FID_NUM_QUEUES, 0xffff, NULL), st(0, NVME_SC_INVALID_FIELD));
	/* Granted 2 SQs: qid 3 is beyond. */
	assert_int_equal(host_create_io(h, &q, 3, 16, false, 0), st(1, NVME_SC_QID_INVALID));
	assert_int_equal(host_create_io(h, &q, 2, 16, false, 0), 0);
	/* Once queues exist the count is fixed. */
	assert_int_equal(set_feature(h, NVME_FEAT_FID_NUM_QUEUES, 0, NULL), st(0, NVME_SC_CMD_SEQ_ERROR));
}

/* ---- log pages ---- */

static uint16_t get_log(struct host *h, uint8_t lid, void *buf, uint32_t len, uint64_t offset)
{
	struct pn_sqe cmd = {.opc = nvme_admin_get_log_page, .nsid = 0xffffffff};

	cmd.cdw10 = lid | ((len / 4 - 1) & 0xffff) << 16;
	cmd.cdw11 = (len / 4 - 1) >> 16;
	cmd.cdw12 = (uint32_t)offset;
	cmd.cdw13 = (uint32_t)(offset >> 32);
	cmd.prp1 = host_iova(h, buf);
	return admin(h, &cmd, NULL);
}

static uint64_t le64_at(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static void log_pages(void **state)
{
	struct host *h = *state;
	struct host_queue q;
	struct nvme_smart_log *smart = host_alloc(h, 4096);
	struct nvme_error_log_page *err = host_alloc(h, 4096);
	struct nvme_firmware_slot *fw = host_alloc(h, 4096);
	struct nvme_cmd_effects_log *fx = host_alloc(h, 4096);
	uint8_t *data = host_alloc(h, 8192);

	assert_int_equal(host_create_io(h, &q, 1, 16, false, 0), 0);
	/* 3 writes of 8 blocks and 2 reads of 16: 12 KiB in, 16 KiB out. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(io(h, &q, nvme_cmd_write, 1, 0, 8, host_iova(h, data), 0), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(io(h, &q, nvme_cmd_read, 1, 0, 16, host_iova(h, data), host_iova(h, data + 4096)), 0);
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, NS1_BLOCKS, 1, host_iova(h, data), 0), st(0, NVME_SC_LBA_RANGE));

	assert_int_equal(get_log(h, NVME_LOG_LID_SMART, smart, 512, 0), 0);
	assert_int_equal(le64_at(smart->host_writes), 3);
	assert_int_equal(le64_at(smart->host_reads), 2);
	assert_int_equal(le64_at(smart->data_units_written), 1);  /* 24 units, rounded up */
	assert_int_equal(le64_at(smart->data_units_read), 1);
	assert_int_equal(le64_at(smart->num_err_log_entries), 1);
	assert_true(smart->temperature[0] | smart->temperature[1]);
	assert_int_equal(smart->avail_spare, 100);

	assert_int_equal(get_log(h, NVME_LOG_LID_ERROR, err, 4096, 0), 0);
	assert_int_equal(err[0].error_count, 1);
	assert_int_equal(err[0].sqid, 1);
	assert_int_equal((err[0].status_field >> 1) & 0xff, NVME_SC_LBA_RANGE);
	assert_int_equal(err[0].nsid, 1);
	assert_int_equal(err[0].lba, NS1_BLOCKS);
	assert_int_equal(err[1].error_count, 0);

	assert_int_equal(get_log(h, NVME_LOG_LID_FW_SLOT, fw, 512, 0), 0);
	assert_int_equal(fw->afi & 7, 1);
	assert_memory_equal(fw->frs[0], "1.0", 3);

	assert_int_equal(get_log(h, NVME_LOG_LID_CMD_EFFECTS, fx, 4096, 0), 0);
	assert_true(fx->acs[nvme_admin_identify] & 1);
	assert_true(fx->iocs[nvme_cmd_write] & 1);
	assert_true(fx->iocs[nvme_cmd_write] & 2);
	assert_false(fx->iocs[0x7f] & 1);

	/* An offset into the page, a page we do not have, a bad offset. */
	assert_int_equal(get_log(h, NVME_LOG_LID_SMART, smart, 8, 0x50), 0);
	assert_int_equal(le64_at((uint8_t *)smart), 3);               /* Host Write Commands */
	assert_int_equal(get_log(h, 0x0e, smart, 512, 0), st(1, NVME_SC_INVALID_LOG_PAGE));
	/* Asking for more than the page holds: zeroes after it. */
	memset(fx, 0xee, 4096);
	assert_int_equal(get_log(h, NVME_LOG_LID_SMART, fx, 1024, 0), 0);
	assert_int_equal(((uint8_t *)fx)[3], 100);                    /* Available Spare */
	assert_int_equal(((uint8_t *)fx)[512], 0);
	assert_int_equal(((uint8_t *)fx)[1023], 0);
	assert_int_equal(((uint8_t *)fx)[1024], 0xee);
	assert_int_equal(get_log(h, NVME_LOG_LID_SMART, smart, 512, 513), st(0, NVME_SC_INVALID_FIELD));
	assert_int_equal(get_log(h, NVME_LOG_LID_SMART, smart, 512, 4096), st(0, NVME_SC_INVALID_FIELD));
}

/* ---- queue creation and deletion ---- */

static void queue_status_codes(void **state)
{
	struct host *h = *state;
	struct host_queue q1, q2;
	struct pn_sqe cmd;
	void *ring = host_alloc(h, 4096 * 4);

	/* Create I/O CQ */
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = nvme_admin_create_cq;
	cmd.prp1 = host_iova(h, ring);
	cmd.cdw10 = 15u << 16 | 0;       /* qid 0 */
	cmd.cdw11 = 1;
	assert_int_equal(admin(h, &cmd, NULL), st(1, NVME_SC_QID_INVALID));
	cmd.cdw10 = 15u << 16 | 9;       /* beyond the 8 offered */
	assert_int_equal(admin(h, &cmd, NULL), st(1, NVME_SC_QID_INVALID));
	cmd.cdw10 = 0u << 16 | 1;        /* one entry */
	assert_int_equal(admin(h, &cmd, NULL), st(1, NVME_SC_QUEUE_SIZE));
	cmd.cdw10 = 256u << 16 | 1;      /* 257 > MQES + 1 */
	assert_int_equal(admin(h, &cmd, NULL), st(1, NVME_SC_QUEUE_SIZE));
	cmd.cdw10 = 15u << 16 | 1;
	cmd.cdw11 = 0;                   /* not contiguous while CAP.CQR = 1 */
	assert_int_equal(admin(h, &cmd, NULL), st(0, NVME_SC_INVALID_FIELD));
	cmd.cdw11 = 8u << 16 | 3;        /* vector 8 of 8 */
	assert_int_equal(admin(h, &cmd, NULL), st(1, NVME_SC_INVALID_VECTOR));
	cmd.cdw11 = 1;
	cmd.prp1 = host_iova(h, ring) + 0x100;
	assert_int_equal(admin(h, &cmd, NULL), st(0, NVME_SC_INVALID_FIELD));
	cmd.prp1 = 0x1000;               /* the translator refuses it */
	assert_int_equal(admin(h, &cmd, NULL), st(0, NVME_SC_DATA_XFER_ERROR));

	/* Create I/O SQ on a CQ that does not exist. */
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = nvme_admin_create_sq;
	cmd.prp1 = host_iova(h, ring);
	cmd.cdw10 = 15u << 16 | 1;
	cmd.cdw11 = 1u << 16 | 1;
	assert_int_equal(admin(h, &cmd, NULL), st(1, NVME_SC_CQ_INVALID));
	cmd.cdw11 = 0u << 16 | 1;        /* the admin CQ is not for IO */
	assert_int_equal(admin(h, &cmd, NULL), st(1, NVME_SC_CQ_INVALID));

	assert_int_equal(host_create_io(h, &q1, 1, 16, false, 0), 0);
	/* Both ids in use now. */
	assert_int_equal(host_create_io(h, &q2, 1, 16, false, 0), st(1, NVME_SC_QID_INVALID));
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = nvme_admin_create_sq;
	cmd.prp1 = host_iova(h, ring);
	cmd.cdw10 = 15u << 16 | 1;
	cmd.cdw11 = 1u << 16 | 1;
	assert_int_equal(admin(h, &cmd, NULL), st(1, NVME_SC_QID_INVALID));
	cmd.cdw10 = 0u << 16 | 2;
	assert_int_equal(admin(h, &cmd, NULL), st(1, NVME_SC_QUEUE_SIZE));
	/* A second SQ on CQ 1. */
	cmd.cdw10 = 15u << 16 | 2;
	assert_int_equal(admin(h, &cmd, NULL), 0);

	/* Deletion: CQ in use, unknown ids, then in order. */
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = nvme_admin_delete_cq;
	cmd.cdw10 = 1;
	assert_int_equal(admin(h, &cmd, NULL), st(1, NVME_SC_INVALID_QUEUE));
	cmd.cdw10 = 0;
	assert_int_equal(admin(h, &cmd, NULL), st(1, NVME_SC_QID_INVALID));
	cmd.cdw10 = 5;
	assert_int_equal(admin(h, &cmd, NULL), st(1, NVME_SC_QID_INVALID));
	cmd.opc = nvme_admin_delete_sq;
	cmd.cdw10 = 0;
	assert_int_equal(admin(h, &cmd, NULL), st(1, NVME_SC_QID_INVALID));
	cmd.cdw10 = 3;
	assert_int_equal(admin(h, &cmd, NULL), st(1, NVME_SC_QID_INVALID));
	cmd.cdw10 = 1;
	assert_int_equal(admin(h, &cmd, NULL), 0);
	assert_int_equal(admin(h, &cmd, NULL), st(1, NVME_SC_QID_INVALID));
	cmd.opc = nvme_admin_delete_cq;
	assert_int_equal(admin(h, &cmd, NULL), st(1, NVME_SC_INVALID_QUEUE)); /* SQ 2 still on it */
	cmd.opc = nvme_admin_delete_sq;
	cmd.cdw10 = 2;
	assert_int_equal(admin(h, &cmd, NULL), 0);
	cmd.opc = nvme_admin_delete_cq;
	cmd.cdw10 = 1;
	assert_int_equal(admin(h, &cmd, NULL), 0);
	/* The ids are free again. */
	assert_int_equal(host_create_io(h, &q2, 1, 16, false, 0), 0);
}

/* ---- NVM commands ---- */

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

/* Freed ring memory (soft_ctrl_forget_memory) makes a queue unusable, not
 * absent: NVMe 1.4 §5.3-§5.6 keep it until it is deleted. */
static void freed_ring_keeps_queue(void **state)
{
	struct host *h = *state;
	struct host_queue q;
	struct pn_sqe cmd = {0};
	struct pn_sqe flush = {.opc = nvme_cmd_flush, .nsid = 1};
	struct pn_cqe cqe;

	assert_int_equal(host_create_io(h, &q, 3, 16, false, 0), 0);
	assert_int_equal(soft_ctrl_forget_memory(h->sc, (const void *)q.cq, 16 * 16), 0);
	/* The SQ completing there is not polled any more: nothing is posted. */
	host_submit(h, &q, &flush);
	assert_false(host_reap_within(h, &q, &cqe, 50000000ull));
	/* Both ids still in use, the CQ still has its SQ. */
	assert_int_equal(host_create_io(h, &(struct host_queue){0}, 3, 16, false, 0),
			 st(1, NVME_SC_QID_INVALID));
	cmd.opc = nvme_admin_delete_cq;
	cmd.cdw10 = 3;
	assert_int_equal(admin(h, &cmd, NULL), st(1, NVME_SC_INVALID_QUEUE));
	/* A new SQ on the lost CQ exists too (and is never polled). */
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = nvme_admin_create_sq;
	cmd.prp1 = host_iova(h, host_alloc(h, 4096));
	cmd.cdw10 = 15u << 16 | 4;
	cmd.cdw11 = 3u << 16 | 1;
	assert_int_equal(admin(h, &cmd, NULL), 0);
	/* Deleted in order, as any queue. */
	for (uint16_t qid = 3; qid <= 4; qid++) {
		memset(&cmd, 0, sizeof(cmd));
		cmd.opc = nvme_admin_delete_sq;
		cmd.cdw10 = qid;
		assert_int_equal(admin(h, &cmd, NULL), 0);
	}
	cmd.opc = nvme_admin_delete_cq;
	cmd.cdw10 = 3;
	assert_int_equal(admin(h, &cmd, NULL), 0);
	assert_int_equal(admin(h, &cmd, NULL), st(1, NVME_SC_QID_INVALID));
	/* The id is free again, with memory that works. */
	assert_int_equal(host_create_io(h, &q, 3, 16, false, 0), 0);
	assert_int_equal(host_status(host_cmd(h, &q, &flush, NULL)), 0);
}

/* NVMe 1.4 §5.2 (Figure 147): a tail doorbell beyond the queue is ignored
 * and reported as an Error event, Invalid Doorbell Write Value. */
static void invalid_doorbell_value_event(void **state)
{
	struct host *h = *state;
	struct host_queue q;
	struct pn_sqe aer = {.opc = nvme_admin_async_event};
	struct pn_sqe flush = {.opc = nvme_cmd_flush, .nsid = 1};
	struct pn_cqe cqe = {0};
	uint16_t cid;

	assert_int_equal(host_create_io(h, &q, 1, 16, false, 0), 0);
	assert_int_equal(host_status(host_cmd(h, &q, &flush, NULL)), 0);
	cid = host_submit(h, &h->admin, &aer);
	*host_sq_db(h, 1) = 100;
	assert_true(host_reap(h, &h->admin, &cqe));
	assert_int_equal(cqe.cid, cid);
	assert_int_equal(cqe.status & 0xfffe, 0);
	assert_int_equal(cqe.dw0, NVME_AER_ERROR | NVME_AER_ERROR_INVALID_DB_VAL << 8 |
				  NVME_LOG_LID_ERROR << 16);
	/* The write was undone: the queue goes on from its last valid tail. */
	assert_int_equal(*host_sq_db(h, 1), 1);
	assert_int_equal(host_status(host_cmd(h, &q, &flush, NULL)), 0);

	/* Error events are masked until the Error log is read with RAE = 0. */
	cid = host_submit(h, &h->admin, &aer);
	*host_sq_db(h, 1) = 200;
	assert_false(host_reap_within(h, &h->admin, &cqe, 50000000ull));
	struct pn_sqe log = {.opc = nvme_admin_get_log_page,
			     .cdw10 = NVME_LOG_LID_ERROR | 1u << 15 | 15u << 16};

	log.prp1 = host_iova(h, host_alloc(h, 4096));
	assert_int_equal(admin(h, &log, NULL), 0);       /* RAE = 1: still masked */
	*host_sq_db(h, 1) = 300;
	assert_false(host_reap_within(h, &h->admin, &cqe, 50000000ull));
	log.cdw10 &= ~(1u << 15);
	assert_int_equal(admin(h, &log, NULL), 0);
	*host_sq_db(h, 1) = 400;
	assert_true(host_reap(h, &h->admin, &cqe));
	assert_int_equal(cqe.cid, cid);
	assert_int_equal(cqe.dw0, NVME_AER_ERROR | NVME_AER_ERROR_INVALID_DB_VAL << 8 |
				  NVME_LOG_LID_ERROR << 16);
}

static void bar_w32(struct host *h, uint32_t off, uint32_t v)
{
	assert_int_equal(soft_ctrl_bar0_write(h->sc, off, &v, 4), 0);
}

/* Host register writes through soft_ctrl_bar0_write(): NVMe 1.4 §3.1 and
 * §1.5 (read-only and reserved registers keep their value, RW1S/RW1C,
 * reserved bits read 0). */
static void register_write_semantics(void **state)
{
	struct host *h = *state;
	uint64_t cap = host_rd64(h, NVME_REG_CAP), cap_ones = ~cap;
	uint32_t cc = host_rd32(h, NVME_REG_CC), aqa = host_rd32(h, NVME_REG_AQA);
	uint64_t asq = host_rd64(h, NVME_REG_ASQ);
	static const uint32_t reserved[] = {0x18, 0x38, 0x3c, 0x40, 0x50, 0x6c, 0x100, 0xdfc,
					    0xe00, 0xe1c, 0xefc, 0xffc};
	uint8_t byte = 0x80;
	uint32_t v = 0;

	/* CAP, VS, CSTS: read-only. */
	assert_int_equal(soft_ctrl_bar0_write(h->sc, NVME_REG_CAP, &cap_ones, 8), 0);
	bar_w32(h, NVME_REG_CAP + 4, 0);
	assert_int_equal(host_rd64(h, NVME_REG_CAP), cap);
	bar_w32(h, NVME_REG_VS, 0xffffffff);
	assert_int_equal(host_rd32(h, NVME_REG_VS), 0x00010400);
	bar_w32(h, NVME_REG_CSTS, 0xffffffff);
	assert_int_equal(host_rd32(h, NVME_REG_CSTS), 1);
	/* Reserved registers (NSSR too: CAP.NSSRS = 0) read 0 after a write. */
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		bar_w32(h, reserved[i], 0xffffffff);
		assert_int_equal(host_rd32(h, reserved[i]), 0);
	}
	bar_w32(h, NVME_REG_NSSR, 0x4e564d65);
	assert_int_equal(host_rd32(h, NVME_REG_NSSR), 0);
	assert_int_equal(host_rd32(h, NVME_REG_CSTS), 1);
	/* INTMS sets, INTMC clears, both read the mask; 0 changes nothing. */
	bar_w32(h, NVME_REG_INTMS, 1);
	assert_int_equal(host_rd32(h, NVME_REG_INTMS), 1);
	assert_int_equal(host_rd32(h, NVME_REG_INTMC), 1);
	bar_w32(h, NVME_REG_INTMS, 0);
	bar_w32(h, NVME_REG_INTMC, 0);
	assert_int_equal(host_rd32(h, NVME_REG_INTMS), 1);
	assert_int_equal(soft_ctrl_bar0_write(h->sc, NVME_REG_INTMS + 1, &byte, 1), 0);
	assert_int_equal(host_rd32(h, NVME_REG_INTMC), 0x8001);
	bar_w32(h, NVME_REG_INTMC, 1);
	assert_int_equal(host_rd32(h, NVME_REG_INTMS), 0x8000);
	bar_w32(h, NVME_REG_INTMC, 0xffffffff);
	assert_int_equal(host_rd32(h, NVME_REG_INTMS), 0);
	/* CC, AQA, ASQ, ACQ: what was written but the reserved bits. */
	bar_w32(h, NVME_REG_CC, cc | 0xfe00000e);
	assert_int_equal(host_rd32(h, NVME_REG_CC), cc);
	bar_w32(h, NVME_REG_AQA, 0xffffffff);
	assert_int_equal(host_rd32(h, NVME_REG_AQA), 0x0fff0fff);
	bar_w32(h, NVME_REG_AQA, aqa);
	bar_w32(h, NVME_REG_ASQ, 0x10000fff);
	assert_int_equal(host_rd32(h, NVME_REG_ASQ), 0x10000000);
	assert_int_equal(soft_ctrl_bar0_write(h->sc, NVME_REG_ASQ, &asq, 8), 0);
	assert_int_equal(host_rd64(h, NVME_REG_ASQ), asq);
	/* Sizes and alignment. */
	assert_int_equal(soft_ctrl_bar0_write(h->sc, 2, &v, 4), -EINVAL);
	assert_int_equal(soft_ctrl_bar0_write(h->sc, 0, &v, 3), -EINVAL);
	assert_int_equal(soft_ctrl_bar0_write(h->sc, soft_ctrl_bar0_size(h->sc), &v, 4), -EINVAL);
	/* The controller still works. */
	struct pn_sqe id = {.opc = nvme_admin_identify, .cdw10 = NVME_IDENTIFY_CNS_CTRL};

	id.prp1 = host_iova(h, host_alloc(h, 4096));
	assert_int_equal(admin(h, &id, NULL), 0);
}

/* NVMe 1.4 §5.2 (Figure 147): a doorbell of a queue that does not exist is
 * dropped and reported as an Error event, Write to Invalid Doorbell
 * Register; one of an existing queue is taken. */
static void missing_queue_doorbell_event(void **state)
{
	struct host *h = *state;
	struct host_queue q;
	struct pn_sqe aer = {.opc = nvme_admin_async_event};
	struct pn_sqe flush = {.opc = nvme_cmd_flush, .nsid = 1};
	struct pn_cqe cqe = {0};
	uint16_t cid = host_submit(h, &h->admin, &aer);

	bar_w32(h, pn_sq_doorbell_offset(5, 1), 1);
	assert_true(host_reap(h, &h->admin, &cqe));
	assert_int_equal(cqe.cid, cid);
	assert_int_equal(cqe.dw0, NVME_AER_ERROR | NVME_AER_ERROR_INVALID_DB_REG << 8 |
				  NVME_LOG_LID_ERROR << 16);
	assert_int_equal(*host_sq_db(h, 5), 0);
	/* An existing queue's doorbell written the same way works. */
	assert_int_equal(host_create_io(h, &q, 2, 16, false, 0), 0);
	q.sq[0] = flush;
	q.sq_tail = 1;
	cid = host_submit(h, &h->admin, &aer);   /* nothing to report: stays outstanding */
	bar_w32(h, pn_sq_doorbell_offset(2, 1), 1);
	assert_true(host_reap(h, &q, &cqe));
	assert_int_equal(cqe.status & 0xfffe, 0);
	assert_false(host_reap_within(h, &h->admin, &cqe, 20000000ull));
}

static void write_read_prp_list_unaligned(void **state)
{
	struct host *h = *state;
	struct host_queue q;
	uint8_t *src = host_alloc(h, 17 * 4096);
	uint8_t *dst = host_alloc(h, 17 * 4096);
	uint64_t *list = host_alloc(h, 4096);
	uint32_t len = 16 * 4096;           /* 128 blocks of 512 */
	uint32_t off = 0x200;               /* PRP1 starts inside its page */
	uint32_t pages = (off + len + 4095) / 4096;

	assert_int_equal(host_create_io(h, &q, 1, 64, false, 0), 0);
	fill(src + off, len, 1);
	for (uint32_t i = 1; i < pages; i++)
		list[i - 1] = host_iova(h, src + i * 4096);
	assert_int_equal(io(h, &q, nvme_cmd_write, 1, 100, 128, host_iova(h, src + off),
			    host_iova(h, list)), 0);

	/* Read back with a differently shaped list: the destination pages in
	 * reverse order, so only a walker that follows every entry gets the
	 * data right. */
	memset(dst, 0, 17 * 4096);
	for (uint32_t i = 1; i < pages; i++)
		list[i - 1] = host_iova(h, dst + (pages - i) * 4096);
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, 100, 128, host_iova(h, dst + off),
			    host_iova(h, list)), 0);
	assert_memory_equal(dst + off, src + off, 4096 - off);
	for (uint32_t i = 1; i < pages; i++) {
		uint32_t chunk = i == pages - 1 ? (off + len) - i * 4096 : 4096;

		assert_memory_equal(dst + (pages - i) * 4096, src + i * 4096, chunk);
	}
}

static void prp_list_chained(void **state)
{
	struct host *h = *state;
	struct host_queue q;
	uint8_t *src = host_alloc(h, 8 * 4096);
	uint8_t *dst = host_alloc(h, 8 * 4096);
	uint64_t *lists = host_alloc(h, 2 * 4096);
	/* The list starts 2 entries before the end of its page: entry 0 is
	 * data, entry 1 chains to the next list page. */
	uint64_t *first = lists + 512 - 2, *second = lists + 512;

	assert_int_equal(host_create_io(h, &q, 1, 64, false, 0), 0);
	fill(src, 8 * 4096, 2);
	first[0] = host_iova(h, src + 4096);
	first[1] = host_iova(h, second);
	for (int i = 0; i < 6; i++)
		second[i] = host_iova(h, src + (2 + i) * 4096);
	assert_int_equal(io(h, &q, nvme_cmd_write, 2, 7, 8, host_iova(h, src), host_iova(h, first)), 0);

	first[0] = host_iova(h, dst + 4096);
	for (int i = 0; i < 6; i++)
		second[i] = host_iova(h, dst + (2 + i) * 4096);
	assert_int_equal(io(h, &q, nvme_cmd_read, 2, 7, 8, host_iova(h, dst), host_iova(h, first)), 0);
	assert_memory_equal(dst, src, 8 * 4096);
}

static void two_pages_and_prp_errors(void **state)
{
	struct host *h = *state;
	struct host_queue q;
	uint8_t *buf = host_alloc(h, 3 * 4096);
	uint8_t *back = host_alloc(h, 3 * 4096);
	uint64_t *list = host_alloc(h, 4096);

	assert_int_equal(host_create_io(h, &q, 1, 64, false, 0), 0);
	fill(buf, 3 * 4096, 3);
	/* 8 blocks from offset 0xe00: 0x200 bytes in the first page, the rest
	 * in PRP2's page. */
	assert_int_equal(io(h, &q, nvme_cmd_write, 1, 0, 8, host_iova(h, buf + 0xe00),
			    host_iova(h, buf + 4096)), 0);
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, 0, 8, host_iova(h, back + 0xe00),
			    host_iova(h, back + 4096)), 0);
	assert_memory_equal(back + 0xe00, buf + 0xe00, 4096);

	/* PRP2 as a data pointer must start a page. */
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, 0, 8, host_iova(h, back + 0xe00),
			    host_iova(h, back + 4096 + 8)), st(0, NVME_SC_PRP_INVALID_OFFSET));
	/* So must every list entry. */
	list[0] = host_iova(h, back + 4096 + 0x10);
	list[1] = host_iova(h, back + 8192);
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, 0, 24, host_iova(h, back),
			    host_iova(h, list)), st(0, NVME_SC_PRP_INVALID_OFFSET));
	/* PRP1 must be dword aligned. */
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, 0, 1, host_iova(h, back) + 2, 0),
			 st(0, NVME_SC_PRP_INVALID_OFFSET));
	/* Addresses the translator refuses: PRP1, PRP2, a list entry, the list. */
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, 0, 1, 0x2000, 0), st(0, NVME_SC_DATA_XFER_ERROR));
	assert_int_equal(io(h, &q, nvme_cmd_write, 1, 0, 16, host_iova(h, buf), 0x3000),
			 st(0, NVME_SC_DATA_XFER_ERROR));
	list[0] = host_iova(h, back + 4096);
	list[1] = 0x5000;
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, 0, 24, host_iova(h, back), host_iova(h, list)),
			 st(0, NVME_SC_DATA_XFER_ERROR));
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, 0, 24, host_iova(h, back), 0x6000),
			 st(0, NVME_SC_DATA_XFER_ERROR));
}

static void nvm_status_codes(void **state)
{
	struct host *h = *state;
	struct host_queue q;
	uint8_t *buf = host_alloc(h, 33 * 4096);
	uint64_t *list = host_alloc(h, 4096);
	struct pn_sqe cmd;

	assert_int_equal(host_create_io(h, &q, 1, 64, false, 0), 0);
	for (int i = 0; i < 32; i++)
		list[i] = host_iova(h, buf + (i + 1) * 4096);
	/* LBA range: the last block is fine, one past it is not, nor a range
	 * crossing the end. */
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, NS1_BLOCKS - 1, 1, host_iova(h, buf), 0), 0);
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, NS1_BLOCKS, 1, host_iova(h, buf), 0), st(0, NVME_SC_LBA_RANGE));
	assert_int_equal(io(h, &q, nvme_cmd_write, 1, NS1_BLOCKS - 1, 2, host_iova(h, buf), host_iova(h, buf + 4096)),
			 st(0, NVME_SC_LBA_RANGE));
	assert_int_equal(io(h, &q, nvme_cmd_write, 2, NS2_BLOCKS, 1, host_iova(h, buf), 0), st(0, NVME_SC_LBA_RANGE));
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, ~0ull, 2, host_iova(h, buf), 0), st(0, NVME_SC_LBA_RANGE));
	/* MDTS 128 KiB: 256 blocks pass, 257 do not. */
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, 0, 256, host_iova(h, buf), host_iova(h, list)), 0);
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, 0, 257, host_iova(h, buf), host_iova(h, list)),
			 st(0, NVME_SC_INVALID_FIELD));
	assert_int_equal(io(h, &q, nvme_cmd_write, 2, 0, 33, host_iova(h, buf), host_iova(h, list)),
			 st(0, NVME_SC_INVALID_FIELD));
	/* Namespaces (NVMe 1.4 §6.1.5): invalid NSIDs (0, above NN = 16,
	 * broadcast for a read) are Invalid Namespace, inactive ones (3..16)
	 * Invalid Field. */
	assert_int_equal(io(h, &q, nvme_cmd_read, 0, 0, 1, host_iova(h, buf), 0), st(0, NVME_SC_INVALID_NS));
	assert_int_equal(io(h, &q, nvme_cmd_read, 17, 0, 1, host_iova(h, buf), 0), st(0, NVME_SC_INVALID_NS));
	assert_int_equal(io(h, &q, nvme_cmd_read, 0xffffffff, 0, 1, host_iova(h, buf), 0),
			 st(0, NVME_SC_INVALID_NS));
	assert_int_equal(io(h, &q, nvme_cmd_read, 3, 0, 1, host_iova(h, buf), 0), st(0, NVME_SC_INVALID_FIELD));
	assert_int_equal(io(h, &q, nvme_cmd_write, 16, 0, 1, host_iova(h, buf), 0), st(0, NVME_SC_INVALID_FIELD));
	assert_int_equal(io(h, &q, nvme_cmd_flush, 0xffffffff, 0, 1, 0, 0), 0);
	assert_int_equal(io(h, &q, nvme_cmd_flush, 1, 0, 1, 0, 0), 0);
	assert_int_equal(io(h, &q, nvme_cmd_flush, 5, 0, 1, 0, 0), st(0, NVME_SC_INVALID_FIELD));
	assert_int_equal(io(h, &q, nvme_cmd_flush, 0, 0, 1, 0, 0), st(0, NVME_SC_INVALID_NS));
	/* Opcodes and fields */
	assert_int_equal(io(h, &q, 0x7d, 1, 0, 1, 0, 0), st(0, NVME_SC_INVALID_OPCODE));
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = nvme_cmd_read;
	cmd.nsid = 1;
	cmd.flags = PN_PSDT_MASK;               /* PSDT 11b is reserved */
	cmd.prp1 = host_iova(h, buf);
	assert_int_equal(host_status(host_cmd(h, &q, &cmd, NULL)), st(0, NVME_SC_INVALID_FIELD));
	cmd.flags = 1;                          /* fused: not supported */
	assert_int_equal(host_status(host_cmd(h, &q, &cmd, NULL)), st(0, NVME_SC_INVALID_FIELD));
}

static uint16_t io_sgl(struct host *h, struct host_queue *q, uint8_t opc, uint32_t nsid,
		       uint64_t slba, uint32_t nlb, const uint64_t dptr[2])
{
	struct pn_sqe cmd = {.opc = opc, .nsid = nsid, .flags = PN_PSDT_SGL};

	cmd.prp1 = dptr[0];
	cmd.prp2 = dptr[1];
	cmd.cdw10 = (uint32_t)slba;
	cmd.cdw11 = (uint32_t)(slba >> 32);
	cmd.cdw12 = nlb - 1;
	return host_status(host_cmd(h, q, &cmd, NULL));
}

static void sgl_data_pointers(void **state)
{
	struct host *h = *state;
	struct host_queue q;
	uint8_t *src = host_alloc(h, 8 * 4096);
	uint8_t *dst = host_alloc(h, 8 * 4096);
	struct pn_sgl_desc *seg = host_alloc(h, 4096);
	struct pn_list_mem list = {seg, host_iova(h, seg), 4096};
	uint64_t dptr[2];
	/* 6 KiB (12 blocks) in odd pieces at byte offsets */
	struct pn_sgl_piece pieces[5] = {
		{host_iova(h, src + 3), 1000}, {host_iova(h, src + 5000), 1},
		{host_iova(h, src + 9001), 3000}, {host_iova(h, src + 16384), 2143},
		{host_iova(h, src + 20000), 144},
	};

	assert_int_equal(host_create_io(h, &q, 1, 16, false, 0), 0);
	fill(src, 8 * 4096, 9);

	/* One Data Block in SGL1. */
	struct pn_sgl_piece one = {host_iova(h, src + 7), 4096};

	assert_true(pn_sgl_build(&one, 1, 0, &list, dptr) >= 0);
	assert_int_equal(io_sgl(h, &q, nvme_cmd_write, 1, 10, 8, dptr), 0);
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, 10, 8, host_iova(h, dst), 0), 0);
	assert_memory_equal(dst, src + 7, 4096);

	/* A Last Segment of 5 pieces, then Segments chained 3 descriptors at a
	 * time (as the driver's builder makes them): both read back equal. */
	for (unsigned per_segment = 0; per_segment <= 3; per_segment += 3) {
		uint8_t expect[6288];
		size_t at = 0;

		assert_true(pn_sgl_build(pieces, 5, per_segment, &list, dptr) > 0);
		assert_int_equal(dptr[1] >> 60, per_segment ? PN_SGL_TYPE_SEGMENT : PN_SGL_TYPE_LAST_SEGMENT);
		assert_int_equal(io_sgl(h, &q, nvme_cmd_write, 1, 100, 12, dptr), 0);
		for (int i = 0; i < 5; i++) {
			memcpy(expect + at, h->arena + (pieces[i].iova - HOST_ARENA_IOVA), pieces[i].len);
			at += pieces[i].len;
		}
		memset(dst, 0, 8192);
		assert_int_equal(io(h, &q, nvme_cmd_read, 1, 100, 12, host_iova(h, dst), host_iova(h, dst + 4096)), 0);
		assert_memory_equal(dst, expect, 6144);
		/* and compare through the same SGL */
		assert_int_equal(io_sgl(h, &q, nvme_cmd_compare, 1, 100, 12, dptr), 0);
	}

	/* Errors: the SGL describes less than the command moves; a Bit Bucket;
	 * a pointer inside a Last Segment; a refused address. */
	pieces[3].len = 1000;                   /* 5245 bytes for 6144 */
	assert_true(pn_sgl_build(pieces, 5, 0, &list, dptr) > 0);
	assert_int_equal(io_sgl(h, &q, nvme_cmd_read, 1, 100, 12, dptr), st(0, NVME_SC_SGL_INVALID_DATA));
	seg[1].id = 1 << 4;
	assert_int_equal(io_sgl(h, &q, nvme_cmd_read, 1, 100, 1, dptr), st(0, NVME_SC_SGL_INVALID_TYPE));
	seg[1].id = PN_SGL_TYPE_SEGMENT << 4;
	assert_int_equal(io_sgl(h, &q, nvme_cmd_read, 1, 100, 12, dptr), st(0, NVME_SC_SGL_INVALID_LAST));
	one.iova = 0x7000;
	assert_true(pn_sgl_build(&one, 1, 0, &list, dptr) >= 0);
	assert_int_equal(io_sgl(h, &q, nvme_cmd_read, 1, 0, 8, dptr), st(0, NVME_SC_DATA_XFER_ERROR));
	/* A Segment pointing at itself is cut off, not followed forever. */
	seg[0].addr = host_iova(h, seg);
	seg[0].length = 16;
	seg[0].id = PN_SGL_TYPE_SEGMENT << 4;
	dptr[0] = host_iova(h, seg);
	dptr[1] = (uint64_t)16 | (uint64_t)(PN_SGL_TYPE_SEGMENT << 4) << 56;
	assert_int_equal(io_sgl(h, &q, nvme_cmd_read, 1, 0, 8, dptr), st(0, NVME_SC_SGL_INVALID_COUNT));

	/* Admin commands take PRPs only. */
	struct pn_sqe ident = {.opc = nvme_admin_identify, .cdw10 = 1, .flags = PN_PSDT_SGL};

	assert_int_equal(admin(h, &ident, NULL), st(0, NVME_SC_INVALID_FIELD));
}

static uint16_t format(struct host *h, uint32_t nsid, uint32_t cdw10)
{
	struct pn_sqe cmd = {.opc = nvme_admin_format_nvm, .nsid = nsid, .cdw10 = cdw10};

	return admin(h, &cmd, NULL);
}

/* Format NVM (NVMe 1.4 §5.23, OACS bit 1): the one LBA format, data erased,
 * per namespace or all; what is not claimed is refused. */
static void format_nvm(void **state)
{
	struct host *h = *state;
	struct host_queue q;
	uint8_t *data = host_alloc(h, 4096), *back = host_alloc(h, 4096);
	uint8_t zero[4096] = {0};
	uint8_t page[4096];
	struct nvme_id_ctrl *id = host_alloc(h, 4096);

	assert_int_equal(identify(h, NVME_IDENTIFY_CNS_CTRL, 0, id), 0);
	assert_true(id->oacs & NVME_CTRL_OACS_FORMAT);
	assert_int_equal(id->fna, 0);
	assert_int_equal(host_create_io(h, &q, 1, 16, false, 0), 0);
	fill(data, 4096, 9);
	assert_int_equal(io(h, &q, nvme_cmd_write, 1, 100, 8, host_iova(h, data), 0), 0);
	assert_int_equal(io(h, &q, nvme_cmd_write, 2, 7, 1, host_iova(h, data), 0), 0);
	assert_int_equal(io(h, &q, nvme_cmd_write_uncor, 1, 0, 1, 0, 0), 0);

	/* Refused: LBAF beyond NLBAF 0, PI without metadata, crypto erase
	 * (FNA bit 2 = 0), reserved SES, invalid and inactive NSIDs. */
	assert_int_equal(format(h, 1, 1), st(1, NVME_SC_INVALID_FORMAT));
	assert_int_equal(format(h, 1, 1u << 5), st(1, NVME_SC_INVALID_FORMAT));
	assert_int_equal(format(h, 1, 2u << 9), st(0, NVME_SC_INVALID_FIELD));
	assert_int_equal(format(h, 1, 3u << 9), st(0, NVME_SC_INVALID_FIELD));
	assert_int_equal(format(h, 0, 0), st(0, NVME_SC_INVALID_NS));
	assert_int_equal(format(h, 17, 0), st(0, NVME_SC_INVALID_NS));
	assert_int_equal(format(h, 3, 0), st(0, NVME_SC_INVALID_FIELD));
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, 100, 8, host_iova(h, back), 0), 0);
	assert_memory_equal(back, data, 4096);

	/* User data erase of namespace 1: zeroes, readable again; 2 untouched. */
	assert_int_equal(format(h, 1, 1u << 9), 0);
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, 100, 8, host_iova(h, back), 0), 0);
	assert_memory_equal(back, zero, 4096);
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, 0, 1, host_iova(h, back), 0), 0);
	assert_int_equal(io(h, &q, nvme_cmd_read, 2, 7, 1, host_iova(h, back), 0), 0);
	assert_memory_equal(back, data, 4096);
	/* Broadcast: all of them. */
	assert_int_equal(format(h, 0xffffffff, 0), 0);
	assert_int_equal(io(h, &q, nvme_cmd_read, 2, 7, 1, host_iova(h, back), 0), 0);
	memset(page, 0, sizeof(page));
	assert_memory_equal(back, page, 4096);
}

static void compare_zeroes_dsm_uncorrectable(void **state)
{
	struct host *h = *state;
	struct host_queue q;
	uint8_t *data = host_alloc(h, 4096);
	uint8_t *back = host_alloc(h, 4096);
	uint8_t zero[4096] = {0};
	struct nvme_dsm_range *ranges = host_alloc(h, 4096);
	struct pn_sqe cmd;

	assert_int_equal(host_create_io(h, &q, 1, 64, false, 0), 0);
	fill(data, 4096, 4);
	assert_int_equal(io(h, &q, nvme_cmd_write, 1, 40, 8, host_iova(h, data), 0), 0);
	assert_int_equal(io(h, &q, nvme_cmd_compare, 1, 40, 8, host_iova(h, data), 0), 0);
	data[4095] ^= 1;
	assert_int_equal(io(h, &q, nvme_cmd_compare, 1, 40, 8, host_iova(h, data), 0),
			 st(NVME_SCT_MEDIA, NVME_SC_COMPARE_FAILED));
	data[4095] ^= 1;

	/* Write Zeroes on blocks 41-42 */
	assert_int_equal(io(h, &q, nvme_cmd_write_zeroes, 1, 41, 2, 0, 0), 0);
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, 40, 8, host_iova(h, back), 0), 0);
	assert_memory_equal(back, data, 512);
	assert_memory_equal(back + 512, zero, 1024);
	assert_memory_equal(back + 1536, data + 1536, 4096 - 1536);

	/* DSM deallocate blocks 44 and 46-47: they read back zeroes. */
	ranges[0].slba = 44;
	ranges[0].nlb = 1;
	ranges[1].slba = 46;
	ranges[1].nlb = 2;
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = nvme_cmd_dsm;
	cmd.nsid = 1;
	cmd.prp1 = host_iova(h, ranges);
	cmd.cdw10 = 1;                          /* 2 ranges */
	cmd.cdw11 = NVME_DSMGMT_AD;
	assert_int_equal(host_status(host_cmd(h, &q, &cmd, NULL)), 0);
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, 40, 8, host_iova(h, back), 0), 0);
	assert_memory_equal(back + 4 * 512, zero, 512);
	assert_memory_equal(back + 5 * 512, data + 5 * 512, 512);
	assert_memory_equal(back + 6 * 512, zero, 1024);
	ranges[1].slba = NS1_BLOCKS - 1;        /* crosses the end */
	assert_int_equal(host_status(host_cmd(h, &q, &cmd, NULL)), st(0, NVME_SC_LBA_RANGE));
	/* A large deallocation (whole pages go back to the kernel). */
	ranges[0].slba = 1000;
	ranges[0].nlb = 4000;
	cmd.cdw10 = 0;
	assert_int_equal(io(h, &q, nvme_cmd_write, 1, 2000, 8, host_iova(h, data), 0), 0);
	assert_int_equal(host_status(host_cmd(h, &q, &cmd, NULL)), 0);
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, 2000, 8, host_iova(h, back), 0), 0);
	assert_memory_equal(back, zero, 4096);

	/* Write Uncorrectable on block 50: a read over it fails until the
	 * block is written again. */
	assert_int_equal(io(h, &q, nvme_cmd_write_uncor, 1, 50, 1, 0, 0), 0);
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, 48, 4, host_iova(h, back), 0),
			 st(NVME_SCT_MEDIA, NVME_SC_READ_ERROR));
	assert_int_equal(io(h, &q, nvme_cmd_compare, 1, 50, 1, host_iova(h, data), 0),
			 st(NVME_SCT_MEDIA, NVME_SC_READ_ERROR));
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, 51, 1, host_iova(h, back), 0), 0);
	assert_int_equal(io(h, &q, nvme_cmd_write, 1, 50, 1, host_iova(h, data), 0), 0);
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, 48, 4, host_iova(h, back), 0), 0);
	assert_memory_equal(back + 1024, data, 512);
	/* Write Zeroes also cures it. */
	assert_int_equal(io(h, &q, nvme_cmd_write_uncor, 2, 3, 2, 0, 0), 0);
	assert_int_equal(io(h, &q, nvme_cmd_read, 2, 4, 1, host_iova(h, back), 0),
			 st(NVME_SCT_MEDIA, NVME_SC_READ_ERROR));
	assert_int_equal(io(h, &q, nvme_cmd_write_zeroes, 2, 3, 2, 0, 0), 0);
	assert_int_equal(io(h, &q, nvme_cmd_read, 2, 4, 1, host_iova(h, back), 0), 0);
	assert_memory_equal(back, zero, 4096);
}

static void many_commands_wrap_queues(void **state)
{
	struct host *h = *state;
	struct host_queue q;
	uint8_t *buf = host_alloc(h, 4096);
	uint32_t block;
	struct pn_cqe cqe = {0};

	/* A small queue wraps its rings (and the phase tag) many times; every
	 * block written is read back with its own number. */
	assert_int_equal(host_create_io(h, &q, 1, 4, false, 0), 0);
	for (block = 0; block < 300; block++) {
		memcpy(buf, &block, 4);
		assert_int_equal(io(h, &q, nvme_cmd_write, 1, block, 1, host_iova(h, buf), 0), 0);
	}
	for (block = 0; block < 300; block++) {
		uint32_t got = ~0u;

		assert_int_equal(io(h, &q, nvme_cmd_read, 1, block, 1, host_iova(h, buf), 0), 0);
		memcpy(&got, buf, 4);
		assert_int_equal(got, block);
	}
	/* Three in flight on a 4-entry queue (the most it holds). */
	struct pn_sqe rd = {.opc = nvme_cmd_read, .nsid = 1, .prp1 = host_iova(h, buf)};
	uint16_t cids[3];

	for (int i = 0; i < 3; i++)
		cids[i] = host_submit(h, &q, &rd);
	for (int i = 0; i < 3; i++) {
		assert_true(host_reap(h, &q, &cqe));
		assert_int_equal(cqe.cid, cids[i]);
		assert_int_equal(cqe.status & 0xfffe, 0);
	}
}

static void cq_full_holds_back_fetching(void **state)
{
	struct host *h = *state;
	struct host_queue q;
	struct pn_sqe cmd = {0};
	struct pn_sqe flush = {.opc = nvme_cmd_flush, .nsid = 1};
	struct pn_cqe cqe = {0};
	uint16_t cids[12];
	uint64_t deadline;

	/* A 4-entry CQ (3 usable) under a 16-entry SQ. */
	host_queue_init(h, &q, 1, 16);
	cmd.opc = nvme_admin_create_cq;
	cmd.prp1 = host_iova(h, q.cq);
	cmd.cdw10 = 3u << 16 | 1;
	cmd.cdw11 = 1;
	assert_int_equal(admin(h, &cmd, NULL), 0);
	cmd.opc = nvme_admin_create_sq;
	cmd.prp1 = host_iova(h, q.sq);
	cmd.cdw10 = 15u << 16 | 1;
	cmd.cdw11 = 1u << 16 | 1;
	assert_int_equal(admin(h, &cmd, NULL), 0);

	for (int i = 0; i < 12; i++)
		cids[i] = host_submit(h, &q, &flush);
	q.size = 4;      /* from here on only the CQ (4 entries) is walked */
	/* Three completions fill the CQ; the controller must then wait for
	 * the host's head doorbell instead of overwriting entries. */
	deadline = host_now_ns() + HOST_WAIT_NS;
	while ((q.cq[2].status & 1) != 1)
		assert_true(host_now_ns() < deadline);
	assert_int_equal(q.cq[3].status, 0);
	assert_int_equal(q.cq[0].cid, cids[0]);
	/* Reaping lets the rest through, in order, each once. */
	for (int i = 0; i < 12; i++) {
		assert_true(host_reap(h, &q, &cqe));
		assert_int_equal(cqe.cid, cids[i]);
	}
	assert_false(host_reap_within(h, &q, &cqe, 100ull * 1000000ull));
}

static void interrupts_on_their_vector(void **state)
{
	struct host *h = *state;
	struct host_queue q1, q2;
	uint8_t *buf = host_alloc(h, 4096);
	uint64_t deadline;

	assert_int_equal(host_create_io(h, &q1, 1, 16, true, 3), 0);
	assert_int_equal(host_create_io(h, &q2, 2, 16, false, 5), 0);
	assert_int_equal(io(h, &q2, nvme_cmd_read, 1, 0, 1, host_iova(h, buf), 0), 0);
	assert_int_equal(__atomic_load_n(&h->irq_count[5], __ATOMIC_RELAXED), 0);
	assert_int_equal(io(h, &q1, nvme_cmd_read, 1, 0, 1, host_iova(h, buf), 0), 0);
	/* The hook runs after the CQE is posted: wait for it (bounded). */
	deadline = host_now_ns() + HOST_WAIT_NS;
	while (!__atomic_load_n(&h->irq_count[3], __ATOMIC_RELAXED) && host_now_ns() < deadline)
		sched_yield();
	assert_true(h->irq_count[3] >= 1);
	assert_int_equal(h->irq_count[5], 0);
	assert_true(h->irq_count[0] >= 1);      /* the admin CQ interrupts on vector 0 */
}

static void null_mode_moves_no_data(void **state)
{
	struct host *h = *state;
	struct host_queue q;
	uint8_t *buf = host_alloc(h, 2 * 4096);
	uint8_t pattern[8192];

	assert_int_equal(host_create_io(h, &q, 1, 16, false, 0), 0);
	memset(buf, 0xa5, 8192);
	memcpy(pattern, buf, 8192);
	assert_int_equal(io(h, &q, nvme_cmd_write, 1, 0, 16, host_iova(h, buf), host_iova(h, buf + 4096)), 0);
	memset(buf, 0x5a, 8192);
	memcpy(pattern, buf, 8192);
	/* Reads leave the buffer untouched; nothing is walked, so even an
	 * address the translator refuses completes. */
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, 0, 16, host_iova(h, buf), host_iova(h, buf + 4096)), 0);
	assert_memory_equal(buf, pattern, 8192);
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, 0, 1, 0x1000, 0), 0);
	assert_int_equal(io(h, &q, nvme_cmd_compare, 1, 0, 1, host_iova(h, buf), 0), 0);
	/* The checks stay. */
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, NS1_BLOCKS, 1, host_iova(h, buf), 0), st(0, NVME_SC_LBA_RANGE));
	assert_int_equal(io(h, &q, nvme_cmd_read, 1, 0, 257, host_iova(h, buf), 0), st(0, NVME_SC_INVALID_FIELD));
	assert_int_equal(io(h, &q, nvme_cmd_read, 4, 0, 1, host_iova(h, buf), 0), st(0, NVME_SC_INVALID_FIELD));
	assert_int_equal(io(h, &q, nvme_cmd_read, 0, 0, 1, host_iova(h, buf), 0), st(0, NVME_SC_INVALID_NS));
	/* Identify still works in null mode. */
	struct nvme_id_ctrl *id = host_alloc(h, 4096);

	assert_int_equal(identify(h, NVME_IDENTIFY_CNS_CTRL, 0, id), 0);
	assert_int_equal(id->nn, SOFT_CTRL_MAX_NS);
}

/* ---- state machine ---- */

static void reset_drops_queues(void **state)
{
	struct host *h = *state;
	struct host_queue q;
	struct soft_ctrl_stats before, after;
	struct pn_sqe cmd = {0};

	assert_int_equal(host_create_io(h, &q, 1, 16, false, 0), 0);
	soft_ctrl_get_stats(h->sc, &before);
	host_wr32(h, NVME_REG_CC, 0);
	assert_true(host_wait_csts(h, 1, 0));
	soft_ctrl_get_stats(h->sc, &after);
	assert_int_equal(after.resets, before.resets + 1);
	assert_true(host_enable(h));
	/* Queue 1 is gone: deleting it fails, creating it again works. */
	cmd.opc = nvme_admin_delete_sq;
	cmd.cdw10 = 1;
	assert_int_equal(admin(h, &cmd, NULL), st(1, NVME_SC_QID_INVALID));
	assert_int_equal(host_create_io(h, &q, 1, 16, false, 0), 0);
	uint8_t *buf = host_alloc(h, 4096);

	assert_int_equal(io(h, &q, nvme_cmd_read, 1, 0, 1, host_iova(h, buf), 0), 0);
}

static void shutdown_sets_shst(void **state)
{
	struct host *h = *state;
	uint32_t cc = host_rd32(h, NVME_REG_CC);

	host_wr32(h, NVME_REG_CC, cc | 1u << NVME_CC_SHN_SHIFT);
	assert_true(host_wait_csts(h, NVME_CSTS_SHST_MASK << NVME_CSTS_SHST_SHIFT,
				   NVME_CSTS_SHST_CMPLT << NVME_CSTS_SHST_SHIFT));
	/* A reset clears it, and the controller works again. */
	host_wr32(h, NVME_REG_CC, 0);
	assert_true(host_wait_csts(h, 0xd, 0));
	assert_true(host_enable(h));
	uint8_t *id = host_alloc(h, 4096);

	assert_int_equal(identify(h, NVME_IDENTIFY_CNS_CTRL, 0, id), 0);

	/* Abrupt shutdown too. */
	cc = host_rd32(h, NVME_REG_CC);
	host_wr32(h, NVME_REG_CC, cc | 2u << NVME_CC_SHN_SHIFT);
	assert_true(host_wait_csts(h, NVME_CSTS_SHST_MASK << NVME_CSTS_SHST_SHIFT,
				   NVME_CSTS_SHST_CMPLT << NVME_CSTS_SHST_SHIFT));
}

/* ---- AER and Abort ---- */

static void async_events_and_abort(void **state)
{
	struct host *h = *state;
	struct pn_sqe aer = {.opc = nvme_admin_async_event};
	struct pn_sqe cmd = {0};
	struct pn_cqe cqe = {0};
	uint16_t cids[4];

	for (int i = 0; i < 4; i++)
		cids[i] = host_submit(h, &h->admin, &aer);
	/* A fifth is over the limit: its error is the first completion. */
	assert_int_equal(host_status(host_cmd(h, &h->admin, &aer, &cqe)), st(1, NVME_SC_ASYNC_LIMIT));

	assert_int_equal(soft_ctrl_async_event(h->sc, 0x00020101), 0);
	assert_true(host_reap(h, &h->admin, &cqe));
	assert_int_equal(cqe.dw0, 0x00020101);
	assert_int_equal(cqe.status & 0xfffe, 0);
	assert_true(cqe.cid == cids[0] || cqe.cid == cids[1] || cqe.cid == cids[2] || cqe.cid == cids[3]);

	/* Abort one of the remaining AERs: it completes with Abort Requested,
	 * then the Abort with dword0 bit 0 clear (aborted). */
	uint16_t victim = cqe.cid == cids[3] ? cids[2] : cids[3];

	cmd.opc = nvme_admin_abort_cmd;
	cmd.cdw10 = (uint32_t)victim << 16 | 0;
	uint16_t abort_cid = host_submit(h, &h->admin, &cmd);

	assert_true(host_reap(h, &h->admin, &cqe));
	assert_int_equal(cqe.cid, victim);
	assert_int_equal(host_status(cqe.status), st(0, NVME_SC_ABORT_REQ));
	assert_true(host_reap(h, &h->admin, &cqe));
	assert_int_equal(cqe.cid, abort_cid);
	assert_int_equal(cqe.dw0 & 1, 0);
	/* Aborting something already done: not aborted. */
	cmd.cdw10 = (uint32_t)abort_cid << 16 | 0;
	assert_int_equal(host_status(host_cmd(h, &h->admin, &cmd, &cqe)), 0);
	assert_int_equal(cqe.dw0 & 1, 1);

	/* Keep Alive is not supported (KAS = 0, NVMe 1.4 §5.16). */
	struct pn_sqe ka = {.opc = nvme_admin_keep_alive};

	assert_int_equal(host_status(host_cmd(h, &h->admin, &ka, NULL)), st(0, NVME_SC_INVALID_OPCODE));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(registers_at_power_on),
		cmocka_unit_test(config_checked),
		cmocka_unit_test(enable_bad_page_size_is_fatal),
		cmocka_unit_test(admin_queue_outside_memory_is_fatal),
		cmocka_unit_test_setup_teardown(identify_controller, setup, teardown),
		cmocka_unit_test_setup_teardown(identify_namespaces, setup, teardown),
		cmocka_unit_test_setup_teardown(identify_data_transfer_error, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_admin_opcode, setup, teardown),
		cmocka_unit_test_setup_teardown(features_keep_values, setup, teardown),
		cmocka_unit_test_setup_teardown(number_of_queues, setup, teardown),
		cmocka_unit_test_setup_teardown(log_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(queue_status_codes, setup, teardown),
		cmocka_unit_test_setup_teardown(freed_ring_keeps_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(invalid_doorbell_value_event, setup, teardown),
		cmocka_unit_test_setup_teardown(register_write_semantics, setup, teardown),
		cmocka_unit_test_setup_teardown(missing_queue_doorbell_event, setup, teardown),
		cmocka_unit_test_setup_teardown(write_read_prp_list_unaligned, setup, teardown),
		cmocka_unit_test_setup_teardown(prp_list_chained, setup, teardown),
		cmocka_unit_test_setup_teardown(two_pages_and_prp_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(nvm_status_codes, setup, teardown),
		cmocka_unit_test_setup_teardown(sgl_data_pointers, setup, teardown),
		cmocka_unit_test_setup_teardown(compare_zeroes_dsm_uncorrectable, setup, teardown),
		cmocka_unit_test_setup_teardown(format_nvm, setup, teardown),
		cmocka_unit_test_setup_teardown(many_commands_wrap_queues, setup, teardown),
		cmocka_unit_test_setup_teardown(cq_full_holds_back_fetching, setup, teardown),
		cmocka_unit_test_setup_teardown(interrupts_on_their_vector, setup, teardown),
		cmocka_unit_test_setup_teardown(null_mode_moves_no_data, setup_null, teardown),
		cmocka_unit_test_setup_teardown(reset_drops_queues, setup, teardown),
		cmocka_unit_test_setup_teardown(shutdown_sets_shst, setup, teardown),
		cmocka_unit_test_setup_teardown(async_events_and_abort, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
