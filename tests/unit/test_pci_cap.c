/* The capability walker over hand-made config-space images: normal lists,
 * absent lists, malformed and looping lists, the extended list. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "pci_cap.h"

struct image {
	uint8_t cfg[4096];
	uint32_t size;
	int reads;
	int fail_at;   /* offset whose read fails, or -1 */
};

static int image_read(void *ctx, uint32_t offset, void *buf, size_t len)
{
	struct image *img = ctx;

	img->reads++;
	if (img->fail_at >= 0 && offset == (uint32_t)img->fail_at)
		return -EIO;
	/* The walker must never read beyond the function's config space. */
	assert_true(offset + len <= img->size);
	memcpy(buf, img->cfg + offset, len);
	return 0;
}

static void image_init(struct image *img, uint32_t size)
{
	memset(img, 0, sizeof(*img));
	img->size = size;
	img->fail_at = -1;
}

static void std_cap(struct image *img, uint8_t at, uint8_t id, uint8_t next)
{
	img->cfg[at] = id;
	img->cfg[at + 1] = next;
}

static void ext_cap(struct image *img, uint16_t at, uint16_t id, uint16_t next)
{
	uint32_t hdr = id | 1u << 16 | (uint32_t)next << 20;

	memcpy(img->cfg + at, &hdr, 4);
}

/* A typical endpoint: MSI-X 0x40 -> PM 0x60 -> PCIe 0x80. */
static void nvme_like(struct image *img)
{
	image_init(img, 4096);
	img->cfg[0x06] = 0x10;
	img->cfg[0x34] = 0x40;
	std_cap(img, 0x40, 0x11, 0x60);
	std_cap(img, 0x60, 0x01, 0x80);
	std_cap(img, 0x80, 0x10, 0x00);
}

static int collect(void *arg, int cap_id, uint32_t offset)
{
	int *list = arg;

	list[++list[0]] = cap_id;
	list[++list[0]] = (int)offset;
	return 0;
}

static void standard_list_found_in_order(void **state)
{
	struct image img;
	int seen[32] = {0};

	nvme_like(&img);
	assert_int_equal(pci_cap_find(image_read, &img, img.size, false, 0x11), 0x40);
	assert_int_equal(pci_cap_find(image_read, &img, img.size, false, 0x01), 0x60);
	assert_int_equal(pci_cap_find(image_read, &img, img.size, false, 0x10), 0x80);
	assert_int_equal(pci_cap_find(image_read, &img, img.size, false, 0x05), -ENOENT);
	assert_int_equal(pci_cap_walk(image_read, &img, img.size, false, collect, seen), 0);
	assert_int_equal(seen[0], 6);
	assert_int_equal(seen[1], 0x11);
	assert_int_equal(seen[2], 0x40);
	assert_int_equal(seen[5], 0x10);
	assert_int_equal(seen[6], 0x80);
}

static void reserved_pointer_bits_masked(void **state)
{
	struct image img;

	nvme_like(&img);
	img.cfg[0x34] = 0x43;     /* low bits reserved */
	img.cfg[0x41] = 0x62;
	assert_int_equal(pci_cap_find(image_read, &img, img.size, false, 0x01), 0x60);
}

static void no_cap_list_bit_means_empty(void **state)
{
	struct image img;

	nvme_like(&img);
	img.cfg[0x06] = 0;        /* pointer present but the status bit says no list */
	assert_int_equal(pci_cap_find(image_read, &img, img.size, false, 0x11), -ENOENT);
}

static void empty_list(void **state)
{
	struct image img;

	image_init(&img, 256);
	img.cfg[0x06] = 0x10;
	img.cfg[0x34] = 0x00;
	assert_int_equal(pci_cap_find(image_read, &img, img.size, false, 0x01), -ENOENT);
	assert_int_equal(pci_cap_find(image_read, &img, img.size, true, 0x01), -ENOENT);
}

static void pointer_into_header_ends_walk(void **state)
{
	struct image img;

	nvme_like(&img);
	img.cfg[0x61] = 0x10;     /* next pointer into the header: invalid */
	assert_int_equal(pci_cap_find(image_read, &img, img.size, false, 0x01), 0x60);
	assert_int_equal(pci_cap_find(image_read, &img, img.size, false, 0x10), -ENOENT);
}

static void standard_loop_terminates(void **state)
{
	struct image img;

	nvme_like(&img);
	img.cfg[0x81] = 0x40;     /* 0x80 points back to the first */
	assert_int_equal(pci_cap_find(image_read, &img, img.size, false, 0x05), -ENOENT);
	assert_true(img.reads < 100);
	image_init(&img, 256);
	img.cfg[0x06] = 0x10;
	img.cfg[0x34] = 0xfc;
	std_cap(&img, 0xfc, 0x09, 0xfc); /* points at itself */
	assert_int_equal(pci_cap_find(image_read, &img, img.size, false, 0x05), -ENOENT);
	assert_true(img.reads < 100);
}

static void all_ones_device_is_empty(void **state)
{
	struct image img;

	image_init(&img, 4096);
	memset(img.cfg, 0xff, sizeof(img.cfg));
	assert_int_equal(pci_cap_find(image_read, &img, img.size, false, 0x10), -ENOENT);
	assert_int_equal(pci_cap_find(image_read, &img, img.size, true, 0x01), -ENOENT);
	assert_true(img.reads < 100);
}

static void extended_list(void **state)
{
	struct image img;

	nvme_like(&img);
	ext_cap(&img, 0x100, 0x0001, 0x148);  /* AER */
	ext_cap(&img, 0x148, 0x0010, 0x200);  /* SR-IOV */
	ext_cap(&img, 0x200, 0x0003, 0x000);  /* DSN */
	assert_int_equal(pci_cap_find(image_read, &img, img.size, true, 0x0001), 0x100);
	assert_int_equal(pci_cap_find(image_read, &img, img.size, true, 0x0010), 0x148);
	assert_int_equal(pci_cap_find(image_read, &img, img.size, true, 0x0003), 0x200);
	assert_int_equal(pci_cap_find(image_read, &img, img.size, true, 0x0002), -ENOENT);
	/* The standard and extended id spaces are separate. */
	assert_int_equal(pci_cap_find(image_read, &img, img.size, false, 0x0003), -ENOENT);
	assert_int_equal(pci_cap_find(image_read, &img, img.size, true, 0x10), 0x148);
}

static void extended_empty_and_conventional(void **state)
{
	struct image img;

	nvme_like(&img);      /* header at 0x100 is zero */
	assert_int_equal(pci_cap_find(image_read, &img, img.size, true, 0x0001), -ENOENT);
	/* A conventional PCI function (256 bytes) has no extended space to read. */
	image_init(&img, 256);
	assert_int_equal(pci_cap_find(image_read, &img, img.size, true, 0x0001), -ENOENT);
	assert_int_equal(img.reads, 0);
}

static void extended_loop_and_bad_pointer(void **state)
{
	struct image img;

	nvme_like(&img);
	ext_cap(&img, 0x100, 0x0001, 0x200);
	ext_cap(&img, 0x200, 0x0003, 0x100);  /* loops */
	assert_int_equal(pci_cap_find(image_read, &img, img.size, true, 0x0010), -ENOENT);
	assert_true(img.reads < 1100);
	nvme_like(&img);
	ext_cap(&img, 0x100, 0x0001, 0x0c0);  /* into the standard area: invalid */
	assert_int_equal(pci_cap_find(image_read, &img, img.size, true, 0x0001), 0x100);
	assert_int_equal(pci_cap_find(image_read, &img, img.size, true, 0x0011), -ENOENT);
	nvme_like(&img);
	ext_cap(&img, 0x100, 0x0001, 0xffc);  /* last dword, then end */
	ext_cap(&img, 0xffc, 0x000b, 0x000);
	assert_int_equal(pci_cap_find(image_read, &img, img.size, true, 0x000b), 0xffc);
}

static void read_errors_propagate(void **state)
{
	struct image img;

	nvme_like(&img);
	img.fail_at = 0x60;
	assert_int_equal(pci_cap_find(image_read, &img, img.size, false, 0x10), -EIO);
	nvme_like(&img);
	img.fail_at = 0x100;
	assert_int_equal(pci_cap_find(image_read, &img, img.size, true, 0x01), -EIO);
}

static int stop_at_second(void *arg, int cap_id, uint32_t offset)
{
	int *count = arg;

	return ++*count == 2 ? 77 : 0;
}

static void visitor_stops_walk(void **state)
{
	struct image img;
	int count = 0;

	nvme_like(&img);
	assert_int_equal(pci_cap_walk(image_read, &img, img.size, false, stop_at_second, &count), 77);
	assert_int_equal(count, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(standard_list_found_in_order),
		cmocka_unit_test(reserved_pointer_bits_masked),
		cmocka_unit_test(no_cap_list_bit_means_empty),
		cmocka_unit_test(empty_list),
		cmocka_unit_test(pointer_into_header_ends_walk),
		cmocka_unit_test(standard_loop_terminates),
		cmocka_unit_test(all_ones_device_is_empty),
		cmocka_unit_test(extended_list),
		cmocka_unit_test(extended_empty_and_conventional),
		cmocka_unit_test(extended_loop_and_bad_pointer),
		cmocka_unit_test(read_errors_propagate),
		cmocka_unit_test(visitor_stops_walk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
