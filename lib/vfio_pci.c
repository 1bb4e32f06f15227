#include "vfio_pci.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "pci_cap.h"
#include "vfio_container.h"

#define SYSFS_PCI "/sys/bus/pci/devices"

/* Functions open in this process: a second open of one BDF is refused,
 * since two owners would reset and reprogram the function behind each
 * other's back. */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vfio_pci *open_list[64];
static int open_count;

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int parse_hex(const char **p, int digits, unsigned *value)
{
	*value = 0;
	for (int i = 0; i < digits; i++) {
		char c = (*p)[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		*value = *value << 4 | d;
	}
	*p += digits;
	return 0;
}

int vfio_pci_parse_bdf(const char *text, char out[16])
{
	const char *p = text;
	unsigned domain = 0, bus, device, function;
	size_t len = strlen(text);

	if (len == 12) {
		if (parse_hex(&p, 4, &domain) < 0 || *p++ != ':')
			goto bad;
	} else if (len != 7) {
		goto bad;
	}
	if (parse_hex(&p, 2, &bus) < 0 || *p++ != ':' || parse_hex(&p, 2, &device) < 0 ||
	    *p++ != '.' || parse_hex(&p, 1, &function) < 0 || device > 0x1f || function > 7)
		goto bad;
	snprintf(out, 16, "%04x:%02x:%02x.%x", domain, bus, device, function);
	return 0;
bad:
	return pn_fail(EINVAL, "bad PCI address '%.40s': expected 'bb:dd.f' or 'dddd:bb:dd.f' "
		       "(hex, device <= 1f, function <= 7)", text);
}

/* The last path component of a sysfs symlink (a driver or group name). */
static int link_name(const char *path, char *out, size_t size)
{
	char target[PATH_MAX];
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	const char *slash;

	if (n < 0)
		return -errno;
	target[n] = '\0';
	slash = strrchr(target, '/');
	slash = slash ? slash + 1 : target;
	n = (ssize_t)strlen(slash);
	if ((size_t)n >= size)
		n = (ssize_t)size - 1;
	memcpy(out, slash, n);
	out[n] = '\0';
	return 0;
}

/* Why the function cannot be opened, from sysfs: absent, unbound, bound to
 * another driver, or without an IOMMU group. Stores the group id. */
static int check_sysfs(const char *bdf, int *group_id)
{
	char path[128], name[64];

	snprintf(path, sizeof(path), SYSFS_PCI "/%s", bdf);
	if (access(path, F_OK) < 0)
		return pn_fail(ENODEV, "%s: no such PCI device", bdf);
	snprintf(path, sizeof(path), SYSFS_PCI "/%s/driver", bdf);
	if (link_name(path, name, sizeof(name)) < 0)
		return pn_fail(ENODEV, "%s: not bound to any driver; bind it to vfio-pci "
			       "(driver_override + drivers_probe)", bdf);
	if (strcmp(name, "vfio-pci"))
		return pn_fail(EBUSY, "%s: bound to driver '%s', not vfio-pci", bdf, name);
	snprintf(path, sizeof(path), SYSFS_PCI "/%s/iommu_group", bdf);
	if (link_name(path, name, sizeof(name)) < 0)
		return pn_fail(ENODEV, "%s: no IOMMU group (is the IOMMU enabled, e.g. intel_iommu=on?)",
			       bdf);
	*group_id = atoi(name);
	return 0;
}

static int region_info(struct vfio_pci *dev, unsigned index, struct vfio_region_info *info)
{
	memset(info, 0, sizeof(*info));
	info->argsz = sizeof(*info);
	info->index = index;
	if (ioctl(dev->device_fd, VFIO_DEVICE_GET_REGION_INFO, info) < 0)
		return -errno;
	return 0;
}

static int read_device_info(struct vfio_pci *dev)
{
	struct vfio_device_info info = {.argsz = sizeof(info)};
	struct vfio_region_info region;
	int ret;

	if (ioctl(dev->device_fd, VFIO_DEVICE_GET_INFO, &info) < 0) {
		int err = errno;

		return pn_fail(err, "%s: VFIO_DEVICE_GET_INFO: %s", dev->bdf, strerror(err));
	}
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI) || info.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX)
		return pn_fail(ENODEV, "%s: VFIO does not present it as a PCI device", dev->bdf);
	dev->device_flags = info.flags;
	ret = region_info(dev, VFIO_PCI_CONFIG_REGION_INDEX, &region);
	if (ret < 0)
		return pn_fail(-ret, "%s: config region info: %s", dev->bdf, strerror(-ret));
	dev->config_offset = region.offset;
	dev->config_size = region.size;
	for (int i = 0; i < VFIO_PCI_BARS; i++) {
		if (region_info(dev, VFIO_PCI_BAR0_REGION_INDEX + i, &region) < 0)
			continue;
		dev->bar[i].size = region.size;
		dev->bar[i].region_offset = region.offset;
		dev->bar[i].flags = region.flags;
	}
	for (unsigned i = 0; i < info.num_irqs && i < 8; i++) {
		struct vfio_irq_info irq = {.argsz = sizeof(irq), .index = i};

		if (ioctl(dev->device_fd, VFIO_DEVICE_GET_IRQ_INFO, &irq) == 0)
			dev->irq_count[i] = (int)irq.count;
	}
	return 0;
}

/* ---- hot removal (see the header) ---- */

/* Gives the function back to the kernel after its removal request: nothing
 * of this process may keep the device file open, and no thread may fault or
 * reach another file through what it still holds. */
static void release_for_removal(struct vfio_pci *dev)
{
	int placeholder = eventfd(0, EFD_CLOEXEC);

	pthread_mutex_lock(&dev->map_lock);
	snprintf(dev->removed_reason, sizeof(dev->removed_reason),
		 "hot-removed: the kernel asked for the function back (vfio-pci device request) "
		 "and the driver released it");
	__atomic_store_n(&dev->removed, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < VFIO_PCI_BARS; i++) {
		struct vfio_pci_bar *bar = &dev->bar[i];

		if (!bar->map)
			continue;
		/* Doorbell pointers into the BAR stay valid, now to memory of
		 * our own (nothing reads registers through the mapping). */
		if (mmap((void *)bar->map, bar->size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
			munmap((void *)bar->map, bar->size);
			bar->map = NULL;
		}
	}
	if (placeholder >= 0) {
		/* The fd number stays taken: a racing access fails on the
		 * placeholder instead of reaching a file opened meanwhile. */
		dup3(placeholder, dev->device_fd, O_CLOEXEC);
		close(placeholder);
	} else {
		close(dev->device_fd);
		dev->device_fd = -1;
	}
	pthread_mutex_unlock(&dev->map_lock);
	/* The group goes too: the function may come back in a group of the
	 * same number, which a new open must attach afresh. */
	if (dev->group_fd >= 0) {
		vfio_container_group_put(dev->group_id);
		dev->group_fd = -1;
	}
}

static void *watch(void *arg)
{
	struct vfio_pci *dev = arg;
	struct pollfd fds[3] = {
		{.fd = dev->wake_fd, .events = POLLIN},
		{.fd = dev->req_fd, .events = POLLIN},
		{.fd = dev->err_fd, .events = POLLIN},
	};
	uint64_t count;

	for (;;) {
		if (poll(fds, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[0].revents)
			break;
		if ((fds[2].revents & POLLIN) && read(dev->err_fd, &count, sizeof(count)) == sizeof(count))
			__atomic_add_fetch(&dev->error_events, (uint32_t)count, __ATOMIC_RELAXED);
		if (fds[1].revents & POLLIN) {
			if (read(dev->req_fd, &count, sizeof(count)) < 0)
				count = 0;
			release_for_removal(dev);
			break;
		}
	}
	return NULL;
}

static int set_irqs(struct vfio_pci *dev, unsigned index, uint32_t flags, int start, int count,
		    const int *fds);

/* An eventfd the kernel signals for interrupt `index` (one vector), or -1
 * when the kernel offers no such interrupt for the function. */
static int irq_eventfd(struct vfio_pci *dev, unsigned index)
{
	int fd;

	if (dev->irq_count[index] < 1)
		return -1;
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (set_irqs(dev, index, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1,
		     &fd) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Without the request eventfd (an old kernel) a removal waits for close, as
 * before; the device works all the same. */
static void start_watcher(struct vfio_pci *dev)
{
	sigset_t all, old;

	dev->req_fd = irq_eventfd(dev, VFIO_PCI_REQ_IRQ_INDEX);
	dev->err_fd = irq_eventfd(dev, VFIO_PCI_ERR_IRQ_INDEX);
	if (dev->req_fd < 0 && dev->err_fd < 0)
		return;
	dev->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (dev->wake_fd < 0)
		return;
	/* Signals stay with the process's other threads (Python handles them
	 * in its main thread). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	dev->watching = pthread_create(&dev->watcher, NULL, watch, dev) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void stop_watcher(struct vfio_pci *dev)
{
	int *fds[] = {&dev->req_fd, &dev->err_fd, &dev->wake_fd};
	uint64_t one = 1;

	if (dev->watching) {
		if (write(dev->wake_fd, &one, sizeof(one)) == sizeof(one))
			pthread_join(dev->watcher, NULL);
		else
			pthread_detach(dev->watcher);
		dev->watching = false;
	}
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

int vfio_pci_open(const char *bdf, struct vfio_pci **out)
{
	struct vfio_pci *dev;
	char canonical[16];
	int group_id = -1, ret;

	*out = NULL;
	ret = vfio_pci_parse_bdf(bdf, canonical);
	if (ret < 0)
		return ret;
	ret = check_sysfs(canonical, &group_id);
	if (ret < 0)
		return ret;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return pn_fail(ENOMEM, "%s: no memory", canonical);
	memcpy(dev->bdf, canonical, sizeof(dev->bdf));
	dev->group_id = group_id;
	dev->device_fd = -1;
	dev->req_fd = dev->err_fd = dev->wake_fd = -1;
	pthread_mutex_init(&dev->map_lock, NULL);

	pthread_mutex_lock(&open_lock);
	for (int i = 0; i < open_count; i++) {
		/* a removed function's old handle does not count: it is back */
		if (!strcmp(open_list[i]->bdf, canonical) && !vfio_pci_removed(open_list[i])) {
			pthread_mutex_unlock(&open_lock);
			free(dev);
			return pn_fail(EBUSY, "%s: already open in this process (close it first, "
				       "or share the open object)", canonical);
		}
	}
	if (open_count == (int)(sizeof(open_list) / sizeof(open_list[0]))) {
		pthread_mutex_unlock(&open_lock);
		free(dev);
		return pn_fail(EMFILE, "%s: too many PCI functions open", canonical);
	}
	open_list[open_count++] = dev;
	pthread_mutex_unlock(&open_lock);

	ret = vfio_container_group_get(group_id, canonical, &dev->group_fd);
	if (ret < 0) {
		dev->group_fd = -1;
		goto fail;
	}
	dev->device_fd = ioctl(dev->group_fd, VFIO_GROUP_GET_DEVICE_FD, canonical);
	if (dev->device_fd < 0) {
		int err = errno;

		ret = pn_fail(err, "%s: VFIO_GROUP_GET_DEVICE_FD: %s%s", canonical, strerror(err),
			      err == EBUSY ? " (opened by another process?)" : "");
		goto fail;
	}
	ret = read_device_info(dev);
	if (ret < 0)
		goto fail;
	ret = vfio_pci_enable(dev);
	if (ret < 0)
		goto fail;
	start_watcher(dev);
	*out = dev;
	return 0;
fail:
	vfio_pci_close(dev);
	return ret;
}

void vfio_pci_close(struct vfio_pci *dev)
{
	if (!dev)
		return;
	/* first: the watcher may be releasing the function */
	stop_watcher(dev);
	for (int i = 0; i < VFIO_PCI_BARS; i++)
		if (dev->bar[i].map)
			munmap((void *)dev->bar[i].map, dev->bar[i].size);
	/* Closing the device fd makes the kernel tear down its IRQs and reset it. */
	if (dev->device_fd >= 0)
		close(dev->device_fd);
	if (dev->group_fd >= 0)
		vfio_container_group_put(dev->group_id);
	pthread_mutex_lock(&open_lock);
	for (int i = 0; i < open_count; i++) {
		if (open_list[i] == dev) {
			open_list[i] = open_list[--open_count];
			break;
		}
	}
	pthread_mutex_unlock(&open_lock);
	pthread_mutex_destroy(&dev->map_lock);
	free(dev);
}

const char *vfio_pci_removed(struct vfio_pci *dev)
{
	return __atomic_load_n(&dev->removed, __ATOMIC_ACQUIRE) ? dev->removed_reason : NULL;
}

uint32_t vfio_pci_error_events(struct vfio_pci *dev)
{
	return __atomic_load_n(&dev->error_events, __ATOMIC_RELAXED);
}

/* -ENODEV naming the removal once the function was released, else 0. Every
 * access checks before it (a clear reason) and again after a failure (the
 * release may have come in between: the placeholder fd fails the access). */
static int check_present(struct vfio_pci *dev)
{
	const char *why = vfio_pci_removed(dev);

	return why ? pn_fail(ENODEV, "%s: %s", dev->bdf, why) : 0;
}

static int cfg_check(struct vfio_pci *dev, uint32_t offset, size_t len)
{
	if (check_present(dev) < 0)
		return -ENODEV;
	if (len == 0 || len > dev->config_size || offset > dev->config_size - len)
		return pn_fail(EINVAL, "%s: config offset 0x%x (+%zu bytes) is beyond the config "
			       "space (0x%llx bytes)", dev->bdf, offset, len,
			       (unsigned long long)dev->config_size);
	return 0;
}

int vfio_pci_cfg_read(struct vfio_pci *dev, uint32_t offset, void *buf, size_t len)
{
	int ret = cfg_check(dev, offset, len);
	ssize_t n;

	if (ret < 0)
		return ret;
	n = pread(dev->device_fd, buf, len, (off_t)(dev->config_offset + offset));
	if (n != (ssize_t)len) {
		int err = n < 0 ? errno : EIO;

		if (check_present(dev) < 0)
			return -ENODEV;
		return pn_fail(err, "%s: config read at 0x%x: %s", dev->bdf, offset, strerror(err));
	}
	return 0;
}

int vfio_pci_cfg_write(struct vfio_pci *dev, uint32_t offset, const void *buf, size_t len)
{
	int ret = cfg_check(dev, offset, len);
	ssize_t n;

	if (ret < 0)
		return ret;
	n = pwrite(dev->device_fd, buf, len, (off_t)(dev->config_offset + offset));
	if (n != (ssize_t)len) {
		int err = n < 0 ? errno : EIO;

		if (check_present(dev) < 0)
			return -ENODEV;
		return pn_fail(err, "%s: config write at 0x%x: %s", dev->bdf, offset, strerror(err));
	}
	return 0;
}

static int cfg_read16(struct vfio_pci *dev, uint32_t offset, uint16_t *value)
{
	uint8_t raw[2];
	int ret = vfio_pci_cfg_read(dev, offset, raw, 2);

	*value = raw[0] | raw[1] << 8;
	return ret;
}

static int cfg_write16(struct vfio_pci *dev, uint32_t offset, uint16_t value)
{
	uint8_t raw[2] = {value & 0xff, value >> 8};

	return vfio_pci_cfg_write(dev, offset, raw, 2);
}

int vfio_pci_bar_map(struct vfio_pci *dev, int index, volatile void **addr, uint64_t *size)
{
	struct vfio_pci_bar *bar;
	void *map;

	if (index < 0 || index >= VFIO_PCI_BARS || !dev->bar[index].size)
		return pn_fail(ENODEV, "%s: BAR%d does not exist", dev->bdf, index);
	bar = &dev->bar[index];
	/* A mapping holds the device file open: none may appear after the
	 * watcher released the function, or the kernel's removal would wait
	 * for it forever. */
	pthread_mutex_lock(&dev->map_lock);
	if (check_present(dev) < 0) {
		pthread_mutex_unlock(&dev->map_lock);
		return -ENODEV;
	}
	if (!bar->map) {
		if (!(bar->flags & VFIO_REGION_INFO_FLAG_MMAP)) {
			pthread_mutex_unlock(&dev->map_lock);
			return pn_fail(ENODEV, "%s: BAR%d cannot be memory-mapped", dev->bdf, index);
		}
		map = mmap(NULL, bar->size, PROT_READ | PROT_WRITE, MAP_SHARED, dev->device_fd,
			   (off_t)bar->region_offset);
		if (map == MAP_FAILED) {
			int err = errno;

			pthread_mutex_unlock(&dev->map_lock);
			return pn_fail(err, "%s: mmap of BAR%d: %s", dev->bdf, index, strerror(err));
		}
		bar->map = map;
	}
	*addr = bar->map;
	*size = bar->size;
	pthread_mutex_unlock(&dev->map_lock);
	return 0;
}

static int bar_check(struct vfio_pci *dev, int index, uint64_t offset, size_t len)
{
	if (check_present(dev) < 0)
		return -ENODEV;
	if (index < 0 || index >= VFIO_PCI_BARS || !dev->bar[index].size)
		return pn_fail(ENODEV, "%s: BAR%d does not exist", dev->bdf, index);
	if ((len != 1 && len != 2 && len != 4 && len != 8) || offset % len)
		return pn_fail(EINVAL, "%s: BAR%d access of %zu bytes at 0x%llx is not naturally "
			       "aligned", dev->bdf, index, len, (unsigned long long)offset);
	if (offset >= dev->bar[index].size || dev->bar[index].size - offset < len)
		return pn_fail(EINVAL, "%s: offset 0x%llx is beyond BAR%d (0x%llx bytes)", dev->bdf,
			       (unsigned long long)offset, index,
			       (unsigned long long)dev->bar[index].size);
	return 0;
}

int vfio_pci_bar_read(struct vfio_pci *dev, int index, uint64_t offset, void *buf, size_t len)
{
	int ret = bar_check(dev, index, offset, len);
	ssize_t n;

	if (ret < 0)
		return ret;
	n = pread(dev->device_fd, buf, len, (off_t)(dev->bar[index].region_offset + offset));
	if (n != (ssize_t)len) {
		int err = n < 0 ? errno : EIO;

		if (check_present(dev) < 0)
			return -ENODEV;
		return pn_fail(err, "%s: BAR%d read at 0x%llx failed: %s (memory decoding off or "
			       "function in D3hot?)", dev->bdf, index, (unsigned long long)offset,
			       strerror(err));
	}
	return 0;
}

int vfio_pci_bar_write(struct vfio_pci *dev, int index, uint64_t offset, const void *buf, size_t len)
{
	int ret = bar_check(dev, index, offset, len);
	ssize_t n;

	if (ret < 0)
		return ret;
	n = pwrite(dev->device_fd, buf, len, (off_t)(dev->bar[index].region_offset + offset));
	if (n != (ssize_t)len) {
		int err = n < 0 ? errno : EIO;

		if (check_present(dev) < 0)
			return -ENODEV;
		return pn_fail(err, "%s: BAR%d write at 0x%llx failed: %s (memory decoding off or "
			       "function in D3hot?)", dev->bdf, index, (unsigned long long)offset,
			       strerror(err));
	}
	return 0;
}

int vfio_pci_enable(struct vfio_pci *dev)
{
	uint16_t command;
	int ret = cfg_read16(dev, PCI_COMMAND, &command);

	if (ret < 0)
		return ret;
	/* VFIO restores the BARs of a function reset behind its back when the
	 * memory enable bit is written, so write it even when it reads set. */
	command |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	return cfg_write16(dev, PCI_COMMAND, command);
}

static int cfg_cb(void *ctx, uint32_t offset, void *buf, size_t len)
{
	return vfio_pci_cfg_read(ctx, offset, buf, len);
}

int vfio_pci_cap_offset(struct vfio_pci *dev, int cap_id, bool extended)
{
	return pci_cap_find(cfg_cb, dev, (uint32_t)dev->config_size, extended, cap_id);
}

static int need_cap(struct vfio_pci *dev, int cap_id, const char *what)
{
	int offset = vfio_pci_cap_offset(dev, cap_id, false);

	if (offset == -ENOENT)
		return pn_fail(ENOTSUP, "%s: no %s capability", dev->bdf, what);
	return offset;
}

/* A reset clears the function's interrupt setup behind VFIO's back (the
 * sysfs fallback) or leaves it to be restored by the kernel: either way users
 * set interrupts up again, so VFIO's state is cleared first to let them. */
static void irqs_off(struct vfio_pci *dev)
{
	if (dev->msix_enabled)
		set_irqs(dev, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE |
			 VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0, NULL);
	if (dev->intx_enabled)
		set_irqs(dev, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE |
			 VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0, NULL);
	dev->msix_enabled = 0;
	dev->intx_enabled = 0;
}

int vfio_pci_flr(struct vfio_pci *dev)
{
	uint8_t raw[4];
	uint32_t devcap;
	int exp = need_cap(dev, PCI_CAP_ID_EXP, "PCI Express"), ret;

	if (exp < 0)
		return exp;
	ret = vfio_pci_cfg_read(dev, exp + PCI_EXP_DEVCAP, raw, 4);
	if (ret < 0)
		return ret;
	devcap = raw[0] | raw[1] << 8 | raw[2] << 16 | (uint32_t)raw[3] << 24;
	if (!(devcap & PCI_EXP_DEVCAP_FLR))
		return pn_fail(ENOTSUP, "%s: the function does not support FLR (DEVCAP 0x%08x)",
			       dev->bdf, devcap);
	if (!(dev->device_flags & VFIO_DEVICE_FLAGS_RESET))
		return pn_fail(ENOTSUP, "%s: VFIO offers no function reset for it", dev->bdf);
	irqs_off(dev);
	/* The kernel picks FLR first for a function that has it, saving and
	 * restoring config state around it. */
	if (ioctl(dev->device_fd, VFIO_DEVICE_RESET) < 0) {
		int err = errno;

		return pn_fail(err, "%s: VFIO_DEVICE_RESET (FLR): %s", dev->bdf, strerror(err));
	}
	dev->reset_count++;
	snprintf(dev->last_reset, sizeof(dev->last_reset), "FLR (VFIO_DEVICE_RESET)");
	return vfio_pci_enable(dev);
}

/* The upstream bridge of the function, from its sysfs path; -ENODEV when
 * it sits on a root bus. */
static int parent_bridge(struct vfio_pci *dev, char *bridge, size_t size)
{
	char path[128], real[PATH_MAX], *parent;
	char canonical[16];

	snprintf(path, sizeof(path), SYSFS_PCI "/%s", dev->bdf);
	if (!realpath(path, real))
		return pn_fail(errno, "%s: sysfs path: %s", dev->bdf, strerror(errno));
	parent = basename(dirname(real));
	if (strlen(parent) != 12 || vfio_pci_parse_bdf(parent, canonical) < 0)
		return pn_fail(ENODEV, "%s: no upstream bridge (on a root bus)", dev->bdf);
	snprintf(bridge, size, "%s", canonical);
	return 0;
}

/* Whether `bridge` has functions other than `dev` below it. */
static int bridge_has_others(struct vfio_pci *dev, const char *bridge, char *other, size_t size)
{
	char path[128];
	DIR *dir;
	struct dirent *ent;
	int found = 0;

	snprintf(path, sizeof(path), SYSFS_PCI "/%s", bridge);
	dir = opendir(path);
	if (!dir)
		return 1;
	while ((ent = readdir(dir)) != NULL) {
		char canonical[16];

		if (strlen(ent->d_name) != 12 || vfio_pci_parse_bdf(ent->d_name, canonical) < 0)
			continue;
		if (strcmp(canonical, dev->bdf)) {
			snprintf(other, size, "%s", canonical);
			found = 1;
			break;
		}
	}
	closedir(dir);
	pn_clear_error();
	return found;
}

int vfio_pci_sysfs_cfg(const char *bdf, uint32_t offset, void *buf, size_t len, bool write)
{
	char path[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), SYSFS_PCI "/%s/config", bdf);
	fd = open(path, (write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return pn_fail(errno, "%s: cannot open %s: %s", bdf, path, strerror(errno));
	n = write ? pwrite(fd, buf, len, offset) : pread(fd, buf, len, offset);
	close(fd);
	if (n != (ssize_t)len)
		return pn_fail(n < 0 ? errno : EIO, "%s: sysfs config %s at 0x%x failed", bdf,
			       write ? "write" : "read", offset);
	return 0;
}

/* Waits up to 1 s for the function to answer config reads after a reset
 * (Vendor ID not all-ones), read from the hardware through sysfs since VFIO
 * shows a virtualised Vendor ID. */
static int wait_ready(struct vfio_pci *dev)
{
	uint16_t vendor = 0xffff;

	for (int waited = 0; waited < 1000; waited += 10) {
		uint8_t raw[2];

		if (vfio_pci_sysfs_cfg(dev->bdf, PCI_VENDOR_ID, raw, 2, false) == 0)
			vendor = raw[0] | raw[1] << 8;
		if (vendor != 0xffff)
			break;
		sleep_ms(10);
	}
	pn_clear_error();
	if (vendor == 0xffff)
		return pn_fail(EIO, "%s: no answer 1 s after the reset", dev->bdf);
	return 0;
}

/* Secondary Bus Reset by hand: the bridge's Bridge Control bit, held for
 * longer than the spec's 1 ms, then the spec's 100 ms before config access,
 * then waiting for the function to answer (Vendor ID not all-ones). */
static int sbr_via_sysfs(struct vfio_pci *dev, const char *bridge)
{
	uint8_t ctl[2];
	int ret = vfio_pci_sysfs_cfg(bridge, PCI_BRIDGE_CONTROL, ctl, 2, false);

	if (ret < 0)
		return ret;
	ctl[0] |= PCI_BRIDGE_CTL_BUS_RESET;
	ret = vfio_pci_sysfs_cfg(bridge, PCI_BRIDGE_CONTROL, ctl, 2, true);
	if (ret < 0)
		return ret;
	sleep_ms(2);
	ctl[0] &= ~PCI_BRIDGE_CTL_BUS_RESET;
	ret = vfio_pci_sysfs_cfg(bridge, PCI_BRIDGE_CONTROL, ctl, 2, true);
	if (ret < 0)
		return ret;
	sleep_ms(100);
	return wait_ready(dev);
}

/* *attempted tells whether the kernel got as far as resetting the bus. */
static int hot_reset_ioctl(struct vfio_pci *dev, bool *attempted)
{
	struct vfio_pci_hot_reset_info probe = {.argsz = sizeof(probe)};
	struct vfio_pci_hot_reset_info *info;
	struct vfio_pci_hot_reset *reset;
	int ret = 0, nfds = 0;

	if (ioctl(dev->device_fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, &probe) < 0 && errno != ENOSPC)
		return pn_fail(errno, "%s: VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: %s", dev->bdf,
			       strerror(errno));
	info = calloc(1, sizeof(*info) + probe.count * sizeof(info->devices[0]));
	reset = calloc(1, sizeof(*reset) + (probe.count + 1) * sizeof(int32_t));
	if (!info || !reset) {
		ret = pn_fail(ENOMEM, "%s: no memory", dev->bdf);
		goto out;
	}
	info->argsz = sizeof(*info) + probe.count * sizeof(info->devices[0]);
	if (ioctl(dev->device_fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, info) < 0) {
		ret = pn_fail(errno, "%s: VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: %s", dev->bdf,
			      strerror(errno));
		goto out;
	}
	/* The kernel resets only when we prove we own every affected group. */
	for (uint32_t i = 0; i < info->count && i < probe.count; i++) {
		struct vfio_pci_dependent_device *dep = &info->devices[i];
		int fd = vfio_container_group_fd((int)dep->group_id), dup = 0;

		if (fd < 0) {
			ret = pn_fail(EPERM, "%s: a bus reset also resets %04x:%02x:%02x.%x (IOMMU "
				      "group %u), which this process has not opened", dev->bdf,
				      dep->segment, dep->bus, dep->devfn >> 3, dep->devfn & 7,
				      dep->group_id);
			goto out;
		}
		for (int j = 0; j < nfds; j++)
			dup |= reset->group_fds[j] == fd;
		if (!dup)
			reset->group_fds[nfds++] = fd;
	}
	reset->argsz = sizeof(*reset) + nfds * sizeof(int32_t);
	reset->count = nfds;
	*attempted = true;
	if (ioctl(dev->device_fd, VFIO_DEVICE_PCI_HOT_RESET, reset) < 0)
		ret = pn_fail(errno, "%s: VFIO_DEVICE_PCI_HOT_RESET: %s", dev->bdf, strerror(errno));
out:
	free(info);
	free(reset);
	return ret;
}

int vfio_pci_hot_reset(struct vfio_pci *dev)
{
	char bridge[16], other[16], why[200];
	bool attempted = false;
	int ret;

	if (check_present(dev) < 0)
		return -ENODEV;
	irqs_off(dev);
	ret = hot_reset_ioctl(dev, &attempted);
	if (ret == -ENOTTY && attempted && wait_ready(dev) == 0) {
		/* Linux 6.1 reports ENOTTY when the bridge never shows Data Link
		 * Layer Link Active after the reset (QEMU's root port): the bus was
		 * reset and the kernel restored the config state all the same. A
		 * second, manual reset would only lose that state again. */
		snprintf(dev->last_reset, sizeof(dev->last_reset),
			 "secondary bus reset (VFIO_DEVICE_PCI_HOT_RESET; the kernel reported ENOTTY "
			 "as the bridge does not report link active, the function answers)");
		pn_clear_error();
	} else if (ret == 0) {
		snprintf(dev->last_reset, sizeof(dev->last_reset),
			 "secondary bus reset (VFIO_DEVICE_PCI_HOT_RESET)");
	} else {
		/* Fall back to the bridge's SBR bit only where it cannot hurt anyone
		 * else: this function is the only one below the bridge. */
		snprintf(why, sizeof(why), "%s", pn_last_error());
		if (parent_bridge(dev, bridge, sizeof(bridge)) < 0)
			return pn_fail(-ret, "%s; no bridge for a fallback", why);
		if (bridge_has_others(dev, bridge, other, sizeof(other)))
			return pn_fail(-ret, "%s; no fallback: %s is also below bridge %s", why, other,
				       bridge);
		ret = sbr_via_sysfs(dev, bridge);
		if (ret < 0)
			return pn_fail(-ret, "%s; fallback through bridge %s: %s", why, bridge,
				       pn_last_error());
		snprintf(dev->last_reset, sizeof(dev->last_reset),
			 "secondary bus reset by bridge %s's control bit through sysfs (%s)", bridge, why);
		pn_clear_error();
	}
	dev->reset_count++;
	return vfio_pci_enable(dev);
}

void vfio_pci_external_reset_begin(struct vfio_pci *dev)
{
	irqs_off(dev);
}

int vfio_pci_external_reset_end(struct vfio_pci *dev, const char *how)
{
	int ret = wait_ready(dev);

	if (ret < 0)
		return ret;
	snprintf(dev->last_reset, sizeof(dev->last_reset), "%s", how);
	dev->reset_count++;
	return vfio_pci_enable(dev);
}

int vfio_pci_power_state_get(struct vfio_pci *dev)
{
	uint16_t pmcsr;
	int pm = need_cap(dev, PCI_CAP_ID_PM, "power management"), ret;

	if (pm < 0)
		return pm;
	ret = cfg_read16(dev, pm + PCI_PM_CTRL, &pmcsr);
	return ret < 0 ? ret : (pmcsr & PCI_PM_CTRL_STATE_MASK);
}

int vfio_pci_power_state_set(struct vfio_pci *dev, int state)
{
	uint16_t pmc, pmcsr;
	int pm, ret, old;

	if (state < 0 || state > 3)
		return pn_fail(EINVAL, "%s: power state %d is not 0..3 (D0..D3hot)", dev->bdf, state);
	pm = need_cap(dev, PCI_CAP_ID_PM, "power management");
	if (pm < 0)
		return pm;
	ret = cfg_read16(dev, pm + PCI_PM_PMC, &pmc);
	if (ret < 0)
		return ret;
	if ((state == 1 && !(pmc & PCI_PM_CAP_D1)) || (state == 2 && !(pmc & PCI_PM_CAP_D2)))
		return pn_fail(ENOTSUP, "%s: the function does not support D%d (PMC 0x%04x)", dev->bdf,
			       state, pmc);
	ret = cfg_read16(dev, pm + PCI_PM_CTRL, &pmcsr);
	if (ret < 0)
		return ret;
	old = pmcsr & PCI_PM_CTRL_STATE_MASK;
	/* VFIO turns the PMCSR write into a kernel power transition, with the
	 * spec's recovery delays and config state saved/restored as needed. */
	pmcsr = (pmcsr & ~(PCI_PM_CTRL_STATE_MASK | PCI_PM_CTRL_PME_STATUS)) | state;
	ret = cfg_write16(dev, pm + PCI_PM_CTRL, pmcsr);
	if (ret < 0)
		return ret;
	if (state == 0 && old != 0) {
		if (old == 3 && !(pmcsr & PCI_PM_CTRL_NO_SOFT_RESET)) {
			dev->reset_count++;
			snprintf(dev->last_reset, sizeof(dev->last_reset),
				 "D3hot to D0 transition (No_Soft_Reset clear)");
		}
		return vfio_pci_enable(dev);
	}
	return 0;
}

static int exp_lnkctl(struct vfio_pci *dev)
{
	int exp = need_cap(dev, PCI_CAP_ID_EXP, "PCI Express");

	return exp < 0 ? exp : exp + PCI_EXP_LNKCTL;
}

int vfio_pci_aspm_get(struct vfio_pci *dev)
{
	uint16_t lnkctl;
	int at = exp_lnkctl(dev), ret;

	if (at < 0)
		return at;
	ret = cfg_read16(dev, at, &lnkctl);
	return ret < 0 ? ret : (lnkctl & PCI_EXP_LNKCTL_ASPMC);
}

int vfio_pci_aspm_set(struct vfio_pci *dev, int aspm)
{
	uint16_t lnkctl;
	uint8_t raw[2];
	int at, ret;

	if (aspm < 0 || aspm > 3)
		return pn_fail(EINVAL, "%s: ASPM control %d is not 0..3 (off, L0s, L1, both)",
			       dev->bdf, aspm);
	at = exp_lnkctl(dev);
	if (at < 0)
		return at;
	ret = cfg_read16(dev, at, &lnkctl);
	if (ret < 0)
		return ret;
	lnkctl = (lnkctl & ~PCI_EXP_LNKCTL_ASPMC) | aspm;
	ret = cfg_write16(dev, at, lnkctl);
	if (ret < 0)
		return ret;
	if (vfio_pci_aspm_get(dev) == aspm)
		return 0;
	/* VFIO drops Link Control writes: go to the device through sysfs. */
	raw[0] = lnkctl & 0xff;
	raw[1] = lnkctl >> 8;
	ret = vfio_pci_sysfs_cfg(dev->bdf, at, raw, 2, true);
	if (ret < 0)
		return ret;
	ret = vfio_pci_aspm_get(dev);
	if (ret < 0)
		return ret;
	if (ret != aspm)
		return pn_fail(EIO, "%s: the function did not keep ASPM control %d (reads %d)",
			       dev->bdf, aspm, ret);
	return 0;
}

static int set_irqs(struct vfio_pci *dev, unsigned index, uint32_t flags, int start, int count,
		    const int *fds)
{
	size_t size = sizeof(struct vfio_irq_set) + (fds ? count * sizeof(int32_t) : 0);
	struct vfio_irq_set *set = calloc(1, size);
	int ret = 0;

	if (!set)
		return pn_fail(ENOMEM, "%s: no memory", dev->bdf);
	if (check_present(dev) < 0) {
		free(set);
		return -ENODEV;
	}
	set->argsz = size;
	set->flags = flags;
	set->index = index;
	set->start = start;
	set->count = count;
	if (fds)
		memcpy(set->data, fds, count * sizeof(int32_t));
	if (ioctl(dev->device_fd, VFIO_DEVICE_SET_IRQS, set) < 0)
		ret = -errno;
	free(set);
	return ret;
}

int vfio_pci_msix_enable(struct vfio_pci *dev, int count, const int *eventfds)
{
	int ret;

	if (count < 0 || count > dev->irq_count[VFIO_PCI_MSIX_IRQ_INDEX])
		return pn_fail(EINVAL, "%s: %d MSI-X vectors requested, the function has %d",
			       dev->bdf, count, dev->irq_count[VFIO_PCI_MSIX_IRQ_INDEX]);
	/* VFIO cannot grow or shrink an enabled vector block: start over. */
	if (dev->msix_enabled && (count == 0 || count != dev->msix_enabled)) {
		ret = set_irqs(dev, VFIO_PCI_MSIX_IRQ_INDEX,
			       VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0, NULL);
		if (ret < 0)
			return pn_fail(-ret, "%s: disabling MSI-X: %s", dev->bdf, strerror(-ret));
		dev->msix_enabled = 0;
	}
	if (count == 0)
		return 0;
	ret = set_irqs(dev, VFIO_PCI_MSIX_IRQ_INDEX,
		       VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, 0, count, eventfds);
	if (ret < 0)
		return pn_fail(-ret, "%s: enabling %d MSI-X vectors: %s", dev->bdf, count,
			       strerror(-ret));
	dev->msix_enabled = count;
	return 0;
}

int vfio_pci_intx_enable(struct vfio_pci *dev, int eventfd)
{
	int ret;

	if (eventfd < 0) {
		ret = set_irqs(dev, VFIO_PCI_INTX_IRQ_INDEX,
			       VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0, NULL);
		if (ret < 0)
			return pn_fail(-ret, "%s: disabling INTx: %s", dev->bdf, strerror(-ret));
		dev->intx_enabled = 0;
		return 0;
	}
	if (dev->irq_count[VFIO_PCI_INTX_IRQ_INDEX] < 1)
		return pn_fail(ENOTSUP, "%s: the function has no INTx", dev->bdf);
	ret = set_irqs(dev, VFIO_PCI_INTX_IRQ_INDEX,
		       VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, &eventfd);
	if (ret < 0)
		return pn_fail(-ret, "%s: enabling INTx: %s", dev->bdf, strerror(-ret));
	dev->intx_enabled = 1;
	return 0;
}

int vfio_pci_intx_unmask(struct vfio_pci *dev)
{
	int ret = set_irqs(dev, VFIO_PCI_INTX_IRQ_INDEX,
			   VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK, 0, 1, NULL);

	if (ret < 0)
		return pn_fail(-ret, "%s: unmasking INTx: %s", dev->bdf, strerror(-ret));
	return 0;
}
