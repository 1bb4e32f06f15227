/* The soft transport (transport.h): the software NVMe controller
 * (soft_ctrl.h) as a device a script opens like a drive.
 *
 * Address: "soft", or "soft:" followed by comma-separated options:
 *   null         null mode: IO completes without moving data (benchmarks)
 *   size=N[KMGT] bytes of each namespace (default 1G); size=A+B+... one
 *                size per namespace (and as many namespaces)
 *   lba=N        LBA size: 512 (default), 1024, 2048 or 4096
 *   ns=N         namespaces, 1..16 (default 1)
 *   queues=N     IO queues offered, 1..1024 (default 64)
 *   depth=N      deepest queue (CAP.MQES + 1), 2..65536 (default 4096)
 *   mdts=N       Identify MDTS, 0..16 (default 5: 128 KiB)
 *   vectors=N    MSI-X vectors, 1..2048 (default 65)
 *   cpu=N        run the controller thread on CPU N only
 *   spin         the controller thread never naps (benchmarks)
 *   noslot       a slot without a power controller (as most hosts' M.2 and
 *                U.2 bays): slot power fails with ENOTSUP
 * e.g. "soft:null,cpu=1,spin". The options are part of the device's name:
 * the same address opens the same device again, with what was written to
 * it (a drive stays in its slot: the store lives until the process ends),
 * while it is not open elsewhere in the process.
 *
 * The emulated PCIe function: vendor 0xfffe (not a PCI-SIG assigned ID:
 * this is no hardware), class 01:08:02, a 64-bit BAR0 (registers and
 * doorbells), a PM capability (D0/D3hot; D3hot->D0 resets the controller),
 * MSI-X (vector masks honoured, table not memory-mapped) and a PCIe
 * capability (FLR, ASPM control kept). FLR, hot reset, D3hot->D0 and slot
 * power on bring the controller back at power-on state with its store
 * kept; slot power off makes config space and registers read all ones.
 */
#ifndef PYNVME_TRANSPORT_SOFT_H
#define PYNVME_TRANSPORT_SOFT_H

#include "soft_ctrl.h"
#include "transport.h"

/* Whether `addr` names a software controller ("soft" or "soft:..."). */
bool pn_transport_soft_addr(const char *addr);

/* Checks the options of `addr` and writes its canonical form (options in a
 * fixed order, defaults left out) to `out`. Returns 0 or -EINVAL naming the
 * option. */
int pn_transport_soft_canonical(const char *addr, char out[64]);

/* Opens (creating on first use) the software controller `addr`. Returns 0,
 * -EINVAL (bad options), -EBUSY (open already in this process), or the
 * error of soft_ctrl_create(). */
int pn_transport_soft_open(const char *addr, struct pn_transport **out);

/* The controller behind a soft transport, for per-command faults
 * (soft_ctrl_inject) and statistics; NULL for another transport. */
struct soft_ctrl *pn_transport_soft_ctrl(struct pn_transport *t);

/* A controller that stops answering (true) or goes on (false). Kept apart
 * from the hold the transport itself puts on a function that does not
 * decode memory or is in D3hot, so neither undoes the other. Returns 0,
 * -ENOTSUP for another transport, or -ETIMEDOUT. */
int pn_transport_soft_hang(struct pn_transport *t, bool hang);

/* Surprise removal (true): config space and registers read all ones,
 * nothing is processed. Re-insertion (false): the controller is back at
 * power-on state (CC 0, queues gone) with config space as the OS restored
 * it, one reset counted. Returns 0, -ENOTSUP or -ETIMEDOUT. */
int pn_transport_soft_remove(struct pn_transport *t, bool removed);

/* Orderly hot removal (true): as a surprise removal, and this handle is
 * released as a VFIO one is once the OS asked for the device back: the
 * transport reports the removal (the `removed` op, transport.h), so the
 * controller, the ioworkers and the script hear why, and every access
 * through the handle fails naming it, also after pn_transport_soft_remove(t,
 * false) brought the device back (re-insertion), until the handle is closed
 * and the device opened again. false: clears both (done by close). Returns
 * 0, -ENOTSUP or -ETIMEDOUT. */
int pn_transport_soft_hot_remove(struct pn_transport *t, bool removed);

#endif
