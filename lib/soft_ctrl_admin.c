/* Software NVMe controller: the admin command set. Runs on the controller
 * thread (the admin SQ is polled with the IO SQs); not a hot path.
 */
#include <stdio.h>
#include <string.h>

#include "soft_ctrl_priv.h"
#include "tsc.h"

#define GEN(sc) sc_status(NVME_SCT_GENERIC, (sc))
#define CMD(sc) sc_status(NVME_SCT_CMD_SPECIFIC, (sc))

/* Temperatures in Kelvin: the composite sensor and Temperature Sensor 1
 * (the only ones the SMART log reports) read 27 C. */
#define SC_TEMP_SENSORS 1
#define SC_TEMP_NOW 300
#define SC_TEMP_WARN 343
#define SC_TEMP_CRIT 358

/* Power-on values (also "default" and "saved": nothing is saveable). */
static void features_defaults(struct soft_ctrl *c, struct sc_features *f)
{
	uint32_t max = c->cfg.nr_io_queues - 1u;

	memset(f, 0, sizeof(*f));
	f->nr_queues = max | max << 16;
	for (unsigned i = 0; i <= SC_TEMP_SENSORS; i++)
		f->temp_over[i] = SC_TEMP_WARN;
	f->vwc = 1;
}

void sc_features_reset(struct soft_ctrl *c)
{
	uint8_t *irq_config = c->feat.irq_config;

	features_defaults(c, &c->feat);
	memset(irq_config, 0, c->cfg.nr_vectors);
	c->feat.irq_config = irq_config;
	c->feat.ts_reset_ns = pn_monotonic_ns();
}

static void put_le64(uint8_t *dst, uint64_t v)
{
	memcpy(dst, &v, 8);  /* x86 and arm64 hosts are little endian */
}

static uint32_t nr_sq_granted(struct soft_ctrl *c)
{
	return (c->feat.nr_queues & 0xffff) + 1;
}

static uint32_t nr_cq_granted(struct soft_ctrl *c)
{
	return (c->feat.nr_queues >> 16) + 1;
}

/* ---- Identify ---- */

static void identify_ctrl(struct soft_ctrl *c, struct nvme_id_ctrl *id)
{
	id->vid = c->cfg.vid;
	id->ssvid = c->cfg.ssvid;
	memcpy(id->sn, c->serial, 20);
	memcpy(id->mn, c->model, 40);
	memcpy(id->fr, "1.0     ", 8);
	id->rab = 6;
	id->mdts = c->cfg.mdts;
	id->cntlid = 1;
	id->ver = 0x00010400;
	id->cntrltype = 1;               /* I/O controller */
	id->oacs = NVME_CTRL_OACS_FORMAT;
	id->acl = SC_ABORT_LIMIT - 1;
	id->aerl = SC_AER_LIMIT - 1;
	id->frmw = 1 << 1 | 1;           /* one slot, read only */
	/* Commands Supported and Effects log; extended data (NUMDU, offset) */
	id->lpa = NVME_CTRL_LPA_CMD_EFFECTS | NVME_CTRL_LPA_EXTENDED;
	id->elpe = SC_ERROR_LOG_ENTRIES - 1;
	id->npss = 0;
	id->wctemp = SC_TEMP_WARN;
	id->cctemp = SC_TEMP_CRIT;
	id->sqes = 6 << 4 | 6;
	id->cqes = 4 << 4 | 4;
	id->maxcmd = 0;
	/* NN covers inactive NSIDs too, as on drives with namespace management:
	 * hosts must tell "inactive" from "invalid". */
	id->nn = SOFT_CTRL_MAX_NS;
	/* Keep Alive is optional on PCIe and not supported: KAS 0. */
	id->oncs = NVME_CTRL_ONCS_COMPARE | NVME_CTRL_ONCS_WRITE_UNCORRECTABLE |
		   NVME_CTRL_ONCS_DSM | NVME_CTRL_ONCS_WRITE_ZEROES | NVME_CTRL_ONCS_VERIFY |
		   NVME_CTRL_ONCS_SAVE_FEATURES |  /* Select and Save fields (nothing saveable) */
		   NVME_CTRL_ONCS_TIMESTAMP;
	id->vwc = NVME_CTRL_VWC_PRESENT | NVME_CTRL_VWC_FLUSH;  /* Flush of FFFFFFFFh too */
	id->sgls = 1;                    /* SGLs for IO commands, no alignment needed */
	id->psd[0].mp = 2500;            /* 25 W, in centiwatts */
	snprintf(id->subnqn, sizeof(id->subnqn), "nqn.2024-01.io.pynvme:soft-ctrl:%.20s", c->serial);
}

static void ns_nguid(struct soft_ctrl *c, uint32_t nsid, uint8_t nguid[16])
{
	memcpy(nguid, c->serial, 12);
	memcpy(nguid + 12, &nsid, 4);
}

static void identify_ns(struct soft_ctrl *c, uint32_t nsid, struct nvme_id_ns *id)
{
	struct sc_ns *ns = &c->ns[nsid - 1];

	id->nsze = id->ncap = id->nuse = ns->blocks;
	id->nlbaf = 0;
	id->flbas = 0;
	id->dlfeat = 1;                  /* deallocated blocks read as zeroes */
	id->lbaf[0].ds = ns->lba_shift;
	ns_nguid(c, nsid, id->nguid);
}

static uint32_t admin_identify(struct soft_ctrl *c, const struct pn_sqe *sqe)
{
	uint8_t cns = sqe->cdw10 & 0xff;
	uint32_t nsid = sqe->nsid;
	uint8_t *page = c->scratch;

	memset(page, 0, 4096);
	switch (cns) {
	case NVME_IDENTIFY_CNS_NS:
		if (nsid == 0 || nsid > SOFT_CTRL_MAX_NS)
			return GEN(NVME_SC_INVALID_NS);
		if (nsid <= c->cfg.nr_ns)  /* an inactive NSID reads as zeroes */
			identify_ns(c, nsid, (struct nvme_id_ns *)page);
		break;
	case NVME_IDENTIFY_CNS_CTRL:
		identify_ctrl(c, (struct nvme_id_ctrl *)page);
		break;
	case NVME_IDENTIFY_CNS_NS_ACTIVE_LIST: {
		uint32_t *list = (uint32_t *)page, n = 0;

		if (nsid >= 0xfffffffe)
			return GEN(NVME_SC_INVALID_NS);
		for (uint32_t id = nsid + 1; id <= c->cfg.nr_ns; id++)
			list[n++] = id;
		break;
	}
	case NVME_IDENTIFY_CNS_NS_DESC_LIST:
		if (nsid == 0 || nsid > c->cfg.nr_ns)
			return GEN(NVME_SC_INVALID_NS);
		page[0] = NVME_NIDT_NGUID;
		page[1] = NVME_NIDT_NGUID_LEN;
		ns_nguid(c, nsid, page + 4);
		page[20] = NVME_NIDT_CSI;
		page[21] = NVME_NIDT_CSI_LEN;
		page[24] = 0;                /* NVM command set */
		break;
	default:
		return GEN(NVME_SC_INVALID_FIELD);
	}
	return sc_copy_to_host(c, sqe, page, 4096, 4096);
}

/* ---- Features ---- */

static bool any_io_queue(struct soft_ctrl *c)
{
	for (uint32_t q = 1; q <= c->cfg.nr_io_queues; q++)
		if (c->sqs[q].active || c->cqs[q].active)
			return true;
	return false;
}

/* TMPSEL of Temperature Threshold (NVMe 1.4 §5.21.1.4): the composite
 * temperature (0) or an implemented sensor; 1111b (all) only for Set. */
static bool temp_sensor_valid(unsigned tmpsel, bool set)
{
	return tmpsel <= SC_TEMP_SENSORS || (set && tmpsel == 0xf);
}

/* The namespace a namespace-specific feature names (NVMe 1.4 §5.21.1:
 * Error Recovery), like any NSID (§6.1.5): 0 with an error status in
 * *status, or the NSID; broadcast (Set only) returns 0xffffffff. */
static uint32_t feature_nsid(struct soft_ctrl *c, const struct pn_sqe *sqe, bool set,
			     uint32_t *status)
{
	uint32_t nsid = sqe->nsid;

	*status = 0;
	if (set && nsid == 0xffffffff)
		return nsid;
	if (nsid == 0 || nsid > SOFT_CTRL_MAX_NS)
		*status = GEN(NVME_SC_INVALID_NS);
	else if (nsid > c->cfg.nr_ns)
		*status = GEN(NVME_SC_INVALID_FIELD);
	return *status ? 0 : nsid;
}

/* The features this controller has (Get/Set Features of any other FID is
 * Invalid Field in Command). Keep Alive Timer is not among them: KAS = 0. */
static bool feature_supported(uint8_t fid)
{
	switch (fid) {
	case NVME_FEAT_FID_ARBITRATION:
	case NVME_FEAT_FID_POWER_MGMT:
	case NVME_FEAT_FID_TEMP_THRESH:
	case NVME_FEAT_FID_ERR_RECOVERY:
	case NVME_FEAT_FID_VOLATILE_WC:
	case NVME_FEAT_FID_NUM_QUEUES:
	case NVME_FEAT_FID_IRQ_COALESCE:
	case NVME_FEAT_FID_IRQ_CONFIG:
	case NVME_FEAT_FID_WRITE_ATOMIC:
	case NVME_FEAT_FID_ASYNC_EVENT:
	case NVME_FEAT_FID_TIMESTAMP:
		return true;
	default:
		return false;
	}
}

static uint32_t set_features(struct soft_ctrl *c, const struct pn_sqe *sqe, uint32_t *dw0)
{
	uint8_t fid = sqe->cdw10 & 0xff;
	uint32_t v = sqe->cdw11;
	uint32_t status;

	if (!feature_supported(fid))
		return GEN(NVME_SC_INVALID_FIELD);
	if (sqe->cdw10 >> 31)
		return CMD(NVME_SC_FEATURE_NOT_SAVEABLE);
	switch (fid) {
	case NVME_FEAT_FID_ARBITRATION:
		c->feat.arbitration = v;
		break;
	case NVME_FEAT_FID_POWER_MGMT:
		if ((v & 0x1f) > 0)      /* NPSS 0: power state 0 only */
			return GEN(NVME_SC_INVALID_FIELD);
		c->feat.power_mgmt = v & 0xff;
		break;
	case NVME_FEAT_FID_TEMP_THRESH: {
		unsigned sel = (v >> 16) & 0xf, thsel = (v >> 20) & 0x3;

		if (!temp_sensor_valid(sel, true) || thsel > 1)
			return GEN(NVME_SC_INVALID_FIELD);
		for (unsigned i = 0; i <= SC_TEMP_SENSORS; i++) {
			if (sel != 0xf && sel != i)
				continue;
			if (thsel)
				c->feat.temp_under[i] = v & 0xffff;
			else
				c->feat.temp_over[i] = v & 0xffff;
		}
		break;
	}
	case NVME_FEAT_FID_ERR_RECOVERY: {
		uint32_t nsid = feature_nsid(c, sqe, true, &status);

		if (status)
			return status;
		if (v & 1u << 16)        /* DULBE: NSFEAT bit 2 is 0 */
			return GEN(NVME_SC_INVALID_FIELD);
		for (uint32_t i = 0; i < c->cfg.nr_ns; i++)
			if (nsid == 0xffffffff || nsid == i + 1)
				c->feat.tler[i] = v & 0xffff;
		break;
	}
	case NVME_FEAT_FID_VOLATILE_WC:
		c->feat.vwc = v & 1;
		break;
	case NVME_FEAT_FID_NUM_QUEUES: {
		uint32_t nsq = v & 0xffff, ncq = v >> 16, max = c->cfg.nr_io_queues - 1u;

		if (nsq == 0xffff || ncq == 0xffff)
			return GEN(NVME_SC_INVALID_FIELD);
		if (any_io_queue(c))
			return GEN(NVME_SC_CMD_SEQ_ERROR);
		nsq = nsq < max ? nsq : max;
		ncq = ncq < max ? ncq : max;
		c->feat.nr_queues = nsq | ncq << 16;
		c->feat.nr_queues_set = true;
		*dw0 = c->feat.nr_queues;
		break;
	}
	case NVME_FEAT_FID_IRQ_COALESCE:
		c->feat.irq_coalesce = v & 0xffff;
		break;
	case NVME_FEAT_FID_IRQ_CONFIG:
		if ((v & 0xffff) >= c->cfg.nr_vectors)
			return GEN(NVME_SC_INVALID_FIELD);
		c->feat.irq_config[v & 0xffff] = (v >> 16) & 1;
		break;
	case NVME_FEAT_FID_WRITE_ATOMIC:
		c->feat.write_atomic = v & 1;
		break;
	case NVME_FEAT_FID_ASYNC_EVENT:
		c->feat.async_event = v;
		break;
	case NVME_FEAT_FID_TIMESTAMP: {
		uint8_t ts[8];

		status = sc_copy_from_host(c, sqe, ts, sizeof(ts));
		if (status)
			return status;
		c->feat.ts_ms = 0;
		memcpy(&c->feat.ts_ms, ts, 6);   /* bytes 5:0, little endian */
		c->feat.ts_set_ns = pn_monotonic_ns();
		break;
	}
	}
	return 0;
}

/* The Timestamp data structure (NVMe 1.4 §5.21.1.14, Figure 297): the
 * host's value advanced by the time since it was set (origin 001b), else
 * the milliseconds since the last reset (origin 000b); Synch 0. */
static uint32_t get_timestamp(struct soft_ctrl *c, const struct pn_sqe *sqe, bool current)
{
	uint64_t now = pn_monotonic_ns(), ms;
	bool set = current && c->feat.ts_set_ns;
	uint8_t ts[8] = {0};

	ms = set ? c->feat.ts_ms + (now - c->feat.ts_set_ns) / 1000000
		 : (now - c->feat.ts_reset_ns) / 1000000;
	memcpy(ts, &ms, 6);
	ts[6] = set ? 1 << 1 : 0;
	return sc_copy_to_host(c, sqe, ts, sizeof(ts), sizeof(ts));
}

static uint32_t get_features(struct soft_ctrl *c, const struct pn_sqe *sqe, uint32_t *dw0)
{
	uint8_t fid = sqe->cdw10 & 0xff;
	unsigned sel = (sqe->cdw10 >> 8) & 7;
	struct sc_features defaults;
	uint32_t nsid = 0, status;

	if (!feature_supported(fid) || sel > 3)
		return GEN(NVME_SC_INVALID_FIELD);
	if (fid == NVME_FEAT_FID_ERR_RECOVERY) {
		nsid = feature_nsid(c, sqe, false, &status);
		if (status)
			return status;
	}
	if (sel == 3) {               /* supported capabilities: changeable, not saveable */
		*dw0 = 1 << 2 | (fid == NVME_FEAT_FID_ERR_RECOVERY ? 1 << 1 : 0);
		return 0;
	}
	features_defaults(c, &defaults);
	const struct sc_features *f = sel == 0 ? &c->feat : &defaults;

	switch (fid) {
	case NVME_FEAT_FID_ARBITRATION:
		*dw0 = f->arbitration;
		break;
	case NVME_FEAT_FID_POWER_MGMT:
		*dw0 = f->power_mgmt;
		break;
	case NVME_FEAT_FID_TEMP_THRESH: {
		unsigned tsel = (sqe->cdw11 >> 16) & 0xf, thsel = (sqe->cdw11 >> 20) & 0x3;

		if (!temp_sensor_valid(tsel, false) || thsel > 1)
			return GEN(NVME_SC_INVALID_FIELD);
		*dw0 = thsel ? f->temp_under[tsel] : f->temp_over[tsel];
		break;
	}
	case NVME_FEAT_FID_ERR_RECOVERY:
		*dw0 = f->tler[nsid - 1];
		break;
	case NVME_FEAT_FID_VOLATILE_WC:
		*dw0 = f->vwc;
		break;
	case NVME_FEAT_FID_NUM_QUEUES:
		*dw0 = f->nr_queues;
		break;
	case NVME_FEAT_FID_IRQ_COALESCE:
		*dw0 = f->irq_coalesce;
		break;
	case NVME_FEAT_FID_IRQ_CONFIG: {
		uint32_t iv = sqe->cdw11 & 0xffff;

		if (iv >= c->cfg.nr_vectors)
			return GEN(NVME_SC_INVALID_FIELD);
		*dw0 = iv | (sel == 0 ? (uint32_t)c->feat.irq_config[iv] << 16 : 0);
		break;
	}
	case NVME_FEAT_FID_WRITE_ATOMIC:
		*dw0 = f->write_atomic;
		break;
	case NVME_FEAT_FID_ASYNC_EVENT:
		*dw0 = f->async_event;
		break;
	case NVME_FEAT_FID_TIMESTAMP:
		return get_timestamp(c, sqe, sel == 0);
	}
	return 0;
}

/* ---- Log pages ---- */

static uint32_t build_log(struct soft_ctrl *c, uint8_t lid, uint8_t *page, uint32_t *len)
{
	memset(page, 0, 4096);
	switch (lid) {
	case NVME_LOG_LID_ERROR: {
		struct nvme_error_log_page *e = (struct nvme_error_log_page *)page;
		uint64_t n = c->error_count < SC_ERROR_LOG_ENTRIES ? c->error_count : SC_ERROR_LOG_ENTRIES;

		/* newest first */
		for (uint64_t i = 0; i < n; i++) {
			const struct sc_error_entry *s = &c->errors[(c->error_count - 1 - i) % SC_ERROR_LOG_ENTRIES];

			e[i].error_count = s->count;
			e[i].sqid = s->sqid;
			e[i].cmdid = s->cid;
			e[i].status_field = s->status;   /* 15:1 status; phase bit 0 left 0 */
			e[i].parm_error_location = 0xffff;
			e[i].lba = s->lba;
			e[i].nsid = s->nsid;
		}
		*len = SC_ERROR_LOG_ENTRIES * sizeof(*e);
		break;
	}
	case NVME_LOG_LID_SMART: {
		struct nvme_smart_log *s = (struct nvme_smart_log *)page;

		s->temperature[0] = SC_TEMP_NOW & 0xff;
		s->temperature[1] = SC_TEMP_NOW >> 8;
		s->avail_spare = 100;
		s->spare_thresh = 10;
		/* thousands of 512-byte units, rounded up */
		put_le64(s->data_units_read, (c->bytes_read / 512 + 999) / 1000);
		put_le64(s->data_units_written, (c->bytes_written / 512 + 999) / 1000);
		put_le64(s->host_reads, c->host_reads);
		put_le64(s->host_writes, c->host_writes);
		put_le64(s->power_cycles, c->power_cycles);
		put_le64(s->unsafe_shutdowns, c->unsafe_shutdowns);
		put_le64(s->media_errors, c->media_errors);
		put_le64(s->num_err_log_entries, c->error_count);
		s->temp_sensor[0] = SC_TEMP_NOW;
		*len = sizeof(*s);
		break;
	}
	case NVME_LOG_LID_FW_SLOT: {
		struct nvme_firmware_slot *f = (struct nvme_firmware_slot *)page;

		f->afi = 1;
		memcpy(f->frs[0], "1.0     ", 8);
		*len = sizeof(*f);
		break;
	}
	case NVME_LOG_LID_CMD_EFFECTS: {
		struct nvme_cmd_effects_log *e = (struct nvme_cmd_effects_log *)page;
		static const uint8_t admin[] = {
			nvme_admin_delete_sq, nvme_admin_create_sq, nvme_admin_get_log_page,
			nvme_admin_delete_cq, nvme_admin_create_cq, nvme_admin_identify,
			nvme_admin_abort_cmd, nvme_admin_set_features, nvme_admin_get_features,
			nvme_admin_async_event,
		};

		for (size_t i = 0; i < sizeof(admin); i++)
			e->acs[admin[i]] = 1;                     /* CSUPP */
		e->acs[nvme_admin_format_nvm] = 1 | 1 << 1;       /* LBCC: the data goes */
		e->iocs[nvme_cmd_flush] = 1;
		e->iocs[nvme_cmd_read] = 1;
		e->iocs[nvme_cmd_compare] = 1;
		e->iocs[nvme_cmd_verify] = 1;
		e->iocs[nvme_cmd_write] = 1 | 1 << 1;             /* LBCC */
		e->iocs[nvme_cmd_write_zeroes] = 1 | 1 << 1;
		e->iocs[nvme_cmd_write_uncor] = 1 | 1 << 1;
		e->iocs[nvme_cmd_dsm] = 1 | 1 << 1;
		*len = sizeof(*e);
		break;
	}
	default:
		return CMD(NVME_SC_INVALID_LOG_PAGE);
	}
	return 0;
}

static uint32_t admin_get_log(struct soft_ctrl *c, const struct pn_sqe *sqe)
{
	uint8_t lid = sqe->cdw10 & 0xff;
	uint64_t numd = ((uint64_t)(sqe->cdw11 & 0xffff) << 16 | sqe->cdw10 >> 16) + 1;
	uint64_t offset = sqe->cdw12 | (uint64_t)sqe->cdw13 << 32;
	uint64_t len = numd * 4;
	uint32_t page_len = 0;
	uint32_t status = build_log(c, lid, c->scratch, &page_len);

	if (status)
		return status;
	if ((offset & 3) || offset >= page_len || len > c->max_xfer)
		return GEN(NVME_SC_INVALID_FIELD);
	status = sc_copy_to_host(c, sqe, c->scratch + offset, page_len - offset, len);
	/* Reading the Error log without Retain Asynchronous Event (bit 15)
	 * unmasks Error events (NVMe 1.4 §5.2, §5.14). */
	if (!status && lid == NVME_LOG_LID_ERROR && !(sqe->cdw10 & 1u << 15))
		c->error_events_masked = false;
	return status;
}

/* ---- Queues ---- */

static uint32_t create_cq(struct soft_ctrl *c, const struct pn_sqe *sqe)
{
	uint16_t qid = sqe->cdw10 & 0xffff;
	uint32_t size = (sqe->cdw10 >> 16) + 1;
	bool pc = sqe->cdw11 & 1, ien = sqe->cdw11 & 2;
	uint16_t iv = sqe->cdw11 >> 16;

	if (qid == 0 || qid > nr_cq_granted(c) || c->cqs[qid].active)
		return CMD(NVME_SC_QID_INVALID);
	if (size < 2 || size > c->cfg.max_queue_entries)
		return CMD(NVME_SC_QUEUE_SIZE);
	if (!pc || (sqe->prp1 & (c->page_size - 1)))
		return GEN(NVME_SC_INVALID_FIELD);
	if (iv >= c->cfg.nr_vectors)
		return CMD(NVME_SC_INVALID_VECTOR);
	if (sc_cq_create(c, qid, sqe->prp1, size, ien, iv))
		return sc_status_retry(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR);
	return 0;
}

static uint32_t create_sq(struct soft_ctrl *c, const struct pn_sqe *sqe)
{
	uint16_t qid = sqe->cdw10 & 0xffff;
	uint32_t size = (sqe->cdw10 >> 16) + 1;
	bool pc = sqe->cdw11 & 1;
	uint8_t prio = (sqe->cdw11 >> 1) & 3;
	uint16_t cqid = sqe->cdw11 >> 16;
	struct sc_cq *cq;

	if (qid == 0 || qid > nr_sq_granted(c) || c->sqs[qid].active)
		return CMD(NVME_SC_QID_INVALID);
	if (size < 2 || size > c->cfg.max_queue_entries)
		return CMD(NVME_SC_QUEUE_SIZE);
	cq = cqid ? sc_cq_get(c, cqid) : NULL;
	if (!cq)
		return CMD(NVME_SC_CQ_INVALID);
	if (!pc || (sqe->prp1 & (c->page_size - 1)))
		return GEN(NVME_SC_INVALID_FIELD);
	if (sc_sq_create(c, qid, sqe->prp1, size, cq, prio))
		return sc_status_retry(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR);
	return 0;
}

static uint32_t delete_sq(struct soft_ctrl *c, const struct pn_sqe *sqe)
{
	uint16_t qid = sqe->cdw10 & 0xffff;

	if (qid == 0 || qid > c->cfg.nr_io_queues || !c->sqs[qid].active)
		return CMD(NVME_SC_QID_INVALID);
	sc_sq_delete(c, &c->sqs[qid]);
	return 0;
}

static uint32_t delete_cq(struct soft_ctrl *c, const struct pn_sqe *sqe)
{
	uint16_t qid = sqe->cdw10 & 0xffff;
	struct sc_cq *cq = qid ? sc_cq_get(c, qid) : NULL;

	if (!cq)
		return CMD(NVME_SC_QID_INVALID);
	if (cq->sq_refs)
		return CMD(NVME_SC_INVALID_QUEUE);
	sc_cq_delete(c, cq);
	return 0;
}

/* ---- Format NVM ---- */

/* NVMe 1.4 §5.23: one LBA format (0, no metadata), so a format keeps it and
 * erases the data; SES 001b (user data erase) and 000b both leave zeroes
 * (for 000b the data is unspecified). FNA 0: per namespace, or all of them
 * with the broadcast NSID. */
static uint32_t admin_format(struct soft_ctrl *c, const struct pn_sqe *sqe)
{
	uint32_t lbaf = sqe->cdw10 & 0xf, pi = (sqe->cdw10 >> 5) & 7;
	uint32_t ses = (sqe->cdw10 >> 9) & 7, nsid = sqe->nsid;

	if (nsid != 0xffffffff && (nsid == 0 || nsid > SOFT_CTRL_MAX_NS))
		return GEN(NVME_SC_INVALID_NS);
	if (nsid != 0xffffffff && nsid > c->cfg.nr_ns)
		return GEN(NVME_SC_INVALID_FIELD);
	/* cryptographic erase is not claimed (FNA bit 2), 011b..111b reserved */
	if (ses > NVME_FORMAT_SES_USER_DATA_ERASE)
		return GEN(NVME_SC_INVALID_FIELD);
	/* NLBAF 0; no metadata, so no protection information */
	if (lbaf != 0 || (sqe->cdw10 >> 12 & 3) || pi)
		return CMD(NVME_SC_INVALID_FORMAT);
	for (uint32_t i = 0; i < c->cfg.nr_ns; i++)
		if (nsid == 0xffffffff || nsid == i + 1)
			sc_ns_erase(c, i);
	return 0;
}

/* ---- Abort, AER ---- */

static uint32_t admin_abort(struct soft_ctrl *c, const struct pn_sqe *sqe, uint32_t *dw0)
{
	uint16_t sqid = sqe->cdw10 & 0xffff, cid = sqe->cdw10 >> 16;
	uint16_t aborted = sc_status_retry(NVME_SCT_GENERIC, NVME_SC_ABORT_REQ);

	/* Commands run to completion when fetched: only the ones still
	 * waiting (outstanding AERs, completions held by a DELAY fault) can be
	 * aborted. dword0 bit 0 set: not aborted. */
	*dw0 = 1;
	/* Aborting an AER posts two completions (the AER's and ours). */
	if (sqid == 0 && sc_cq_room(&c->cqs[0], 2)) {
		for (uint32_t i = 0; i < c->aer_count; i++) {
			if (c->aer_cids[i] == cid) {
				c->aer_cids[i] = c->aer_cids[--c->aer_count];
				sc_post_admin(c, cid, aborted, 0);
				*dw0 = 0;
				return 0;
			}
		}
	}
	if (sc_delayed_abort(c, sqid, cid, aborted))
		*dw0 = 0;
	return 0;
}

static uint32_t admin_aer(struct soft_ctrl *c, const struct pn_sqe *sqe)
{
	if (c->aer_count == SC_AER_LIMIT)
		return CMD(NVME_SC_ASYNC_LIMIT);
	c->aer_cids[c->aer_count++] = sqe->cid;
	sc_events_flush(c);
	return SC_NO_COMPLETION;
}

uint32_t sc_admin_cmd(struct soft_ctrl *c, const struct pn_sqe *sqe, uint32_t *dw0)
{
	if ((sqe->flags & PN_PSDT_MASK) != PN_PSDT_PRP || (sqe->flags & 3))
		return GEN(NVME_SC_INVALID_FIELD);
	switch (sqe->opc) {
	case nvme_admin_identify:
		return admin_identify(c, sqe);
	case nvme_admin_set_features:
		return set_features(c, sqe, dw0);
	case nvme_admin_get_features:
		return get_features(c, sqe, dw0);
	case nvme_admin_get_log_page:
		return admin_get_log(c, sqe);
	case nvme_admin_create_cq:
		return create_cq(c, sqe);
	case nvme_admin_create_sq:
		return create_sq(c, sqe);
	case nvme_admin_delete_sq:
		return delete_sq(c, sqe);
	case nvme_admin_delete_cq:
		return delete_cq(c, sqe);
	case nvme_admin_abort_cmd:
		return admin_abort(c, sqe, dw0);
	case nvme_admin_async_event:
		return admin_aer(c, sqe);
	case nvme_admin_format_nvm:
		return admin_format(c, sqe);
	default:
		return GEN(NVME_SC_INVALID_OPCODE);
	}
}
