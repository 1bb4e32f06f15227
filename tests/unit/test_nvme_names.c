/* Opcode names: the table entries, and the vendor/unknown fallbacks at their
 * boundaries (admin vendor range starts at 0xc0, IO at 0x80). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "nvme_names.h"

static void admin_names(void **state)
{
	assert_string_equal(pn_nvme_admin_name(0x06), "Identify");
	assert_string_equal(pn_nvme_admin_name(0x02), "Get Log Page");
	assert_string_equal(pn_nvme_admin_name(0x86), "Get LBA Status");
	assert_string_equal(pn_nvme_admin_name(0x03), "Unknown");
	assert_string_equal(pn_nvme_admin_name(0xbf), "Unknown");
	assert_string_equal(pn_nvme_admin_name(0xc0), "Vendor Specific");
	assert_string_equal(pn_nvme_admin_name(0xff), "Vendor Specific");
}

static void io_names(void **state)
{
	assert_string_equal(pn_nvme_io_name(0x00), "Flush");
	assert_string_equal(pn_nvme_io_name(0x01), "Write");
	assert_string_equal(pn_nvme_io_name(0x02), "Read");
	assert_string_equal(pn_nvme_io_name(0x7d), "Zone Append");
	assert_string_equal(pn_nvme_io_name(0x03), "Unknown");
	assert_string_equal(pn_nvme_io_name(0x7f), "Unknown");
	assert_string_equal(pn_nvme_io_name(0x80), "Vendor Specific");
	assert_string_equal(pn_nvme_io_name(0xff), "Vendor Specific");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(admin_names),
		cmocka_unit_test(io_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
