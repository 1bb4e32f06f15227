/* Names of NVMe command opcodes, for Controller.cmdname()/Namespace.cmdname()
 * and messages. Pure tables, no state. */
#ifndef PYNVME_NVME_NAMES_H
#define PYNVME_NVME_NAMES_H

/* The name of admin command opcode `opc` (0..0xff) as the NVMe base
 * specification gives it; "Vendor Specific" for 0xc0..0xff and "Unknown"
 * for other opcodes without a name. The string is static. */
const char *pn_nvme_admin_name(unsigned opc);

/* The name of NVM command set IO opcode `opc` (0..0xff); "Vendor Specific"
 * for 0x80..0xff and "Unknown" for other opcodes without a name. The string
 * is static. */
const char *pn_nvme_io_name(unsigned opc);

#endif
