#include "vfio_container.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "dma.h"
#include "error.h"

struct group {
	int id;
	int fd;
	int refs;
};

/* Few groups per process (one per opened drive): a small table is enough. */
#define MAX_GROUPS 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int container_fd = -1;
static struct group groups[MAX_GROUPS];
static int group_count;

static struct group *find_group(int group_id)
{
	for (int i = 0; i < group_count; i++)
		if (groups[i].id == group_id)
			return &groups[i];
	return NULL;
}

/* Names the devices of a group bound to a driver other than vfio-pci, so a
 * "not viable" error tells the user what to unbind. */
static void group_offenders(int group_id, char *out, size_t size)
{
	char path[96];
	DIR *dir;
	struct dirent *ent;
	size_t used = 0;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%d/devices", group_id);
	dir = opendir(path);
	if (!dir)
		return;
	while ((ent = readdir(dir)) != NULL) {
		char link[400], target[256];
		ssize_t n;
		const char *driver;

		if (ent->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s/driver", path, ent->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		driver = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
		if (!strcmp(driver, "vfio-pci") || !strcmp(driver, "pcieport"))
			continue;
		used += snprintf(out + used, used < size ? size - used : 0, "%s%s (%s)",
				 used ? ", " : "", ent->d_name, driver);
		if (used >= size)
			break;
	}
	closedir(dir);
}

/* Opens /dev/vfio/vfio and checks it can give us a type1 IOMMU. */
static int container_open(const char *who)
{
	int fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	int version;

	if (fd < 0) {
		int err = errno;

		return pn_fail(err, "%s: cannot open /dev/vfio/vfio: %s (is the vfio module loaded?)",
			       who, strerror(err));
	}
	version = ioctl(fd, VFIO_GET_API_VERSION);
	if (version != VFIO_API_VERSION) {
		close(fd);
		return pn_fail(EINVAL, "%s: VFIO API version %d, expected %d", who, version,
			       VFIO_API_VERSION);
	}
	if (ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0) {
		close(fd);
		return pn_fail(ENOTSUP, "%s: the kernel's VFIO has no type1v2 IOMMU support "
			       "(is vfio_iommu_type1 loaded?)", who);
	}
	container_fd = fd;
	return 0;
}

int vfio_iova_ranges_from_info(const void *info, size_t size, uint64_t (**out)[2], int *count)
{
	const char *base = info;
	struct vfio_iommu_type1_info head;
	uint32_t offset;

	*out = NULL;
	*count = 0;
	if (size < sizeof(head))
		return 0;
	/* Nothing in the chain is assumed aligned: the 6.1 kernel puts the IOVA
	 * range capability, whose ranges are 64-bit, at an offset that is only a
	 * multiple of 4. Every field is copied out with memcpy(). */
	memcpy(&head, base, sizeof(head));
	if (head.argsz < size)
		size = head.argsz;
	offset = (head.flags & VFIO_IOMMU_INFO_CAPS) ? head.cap_offset : 0;
	/* Each capability's offset is checked against the size: the chain comes
	 * from the kernel, but a bad one must not make us read wild. */
	for (int hops = 0; offset && offset + sizeof(struct vfio_info_cap_header) <= size &&
	     hops < 64; hops++) {
		struct vfio_info_cap_header hdr;
		struct vfio_iommu_type1_info_cap_iova_range cap;
		const size_t ranges_at = offsetof(struct vfio_iommu_type1_info_cap_iova_range,
						  iova_ranges);

		memcpy(&hdr, base + offset, sizeof(hdr));
		if (hdr.id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE && offset + sizeof(cap) <= size) {
			memcpy(&cap, base + offset, sizeof(cap));
			if (offset + ranges_at + (size_t)cap.nr_iovas * sizeof(struct vfio_iova_range) >
			    size)
				break;
			*out = calloc(cap.nr_iovas ? cap.nr_iovas : 1, sizeof(**out));
			if (!*out)
				return -ENOMEM;
			for (uint32_t i = 0; i < cap.nr_iovas; i++) {
				struct vfio_iova_range range;

				memcpy(&range, base + offset + ranges_at + i * sizeof(range),
				       sizeof(range));
				(*out)[i][0] = range.start;
				(*out)[i][1] = range.end;
			}
			*count = (int)cap.nr_iovas;
			break;
		}
		offset = hdr.next;
	}
	return 0;
}

/* Reads the usable IOVA ranges (VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) into a
 * malloc()ed array; *count 0 when the kernel does not report them. */
static int read_iova_ranges(const char *who, uint64_t (**out)[2], int *count)
{
	struct vfio_iommu_type1_info probe = {.argsz = sizeof(probe)};
	struct vfio_iommu_type1_info *info;
	uint32_t size;
	int ret;

	*out = NULL;
	*count = 0;
	if (ioctl(container_fd, VFIO_IOMMU_GET_INFO, &probe) < 0) {
		int err = errno;

		return pn_fail(err, "%s: VFIO_IOMMU_GET_INFO: %s", who, strerror(err));
	}
	if (probe.argsz <= sizeof(probe))
		return 0;
	size = probe.argsz;
	info = calloc(1, size);
	if (!info)
		return pn_fail(ENOMEM, "%s: no memory for the IOMMU info", who);
	info->argsz = size;
	if (ioctl(container_fd, VFIO_IOMMU_GET_INFO, info) < 0) {
		int err = errno;

		free(info);
		return pn_fail(err, "%s: VFIO_IOMMU_GET_INFO: %s", who, strerror(err));
	}
	/* size, not the answer's argsz: that may have grown since the probe */
	ret = vfio_iova_ranges_from_info(info, size, out, count);
	free(info);
	if (ret < 0)
		return pn_fail(-ret, "%s: no memory for the IOVA ranges", who);
	return 0;
}

/* Called with the first group attached: the container can now get its IOMMU. */
static int container_set_iommu(const char *who)
{
	uint64_t (*ranges)[2];
	int count, ret;

	if (ioctl(container_fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0) {
		int err = errno;

		return pn_fail(err, "%s: VFIO_SET_IOMMU(type1v2): %s", who, strerror(err));
	}
	ret = read_iova_ranges(who, &ranges, &count);
	if (ret < 0)
		return ret;
	ret = dma_iommu_attach(container_fd, (const uint64_t (*)[2])ranges, count);
	free(ranges);
	if (ret < 0 && !pn_last_error()[0])
		return pn_fail(-ret, "%s: mapping DMA memory into the IOMMU failed: %s", who,
			       strerror(-ret));
	return ret;
}


static int group_attach(int group_id, const char *who, int *group_fd)
{
	char path[32];
	struct vfio_group_status status = {.argsz = sizeof(status)};
	int fd, ret, first = (group_count == 0);

	if (group_count == MAX_GROUPS)
		return pn_fail(EMFILE, "%s: too many IOMMU groups open in this process", who);
	snprintf(path, sizeof(path), "/dev/vfio/%d", group_id);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;

		if (err == EBUSY)
			return pn_fail(err, "%s: IOMMU group %d is in use by another process (%s busy)",
				       who, group_id, path);
		return pn_fail(err, "%s: cannot open %s: %s", who, path, strerror(err));
	}
	if (ioctl(fd, VFIO_GROUP_GET_STATUS, &status) < 0) {
		int err = errno;

		close(fd);
		return pn_fail(err, "%s: VFIO_GROUP_GET_STATUS on group %d: %s", who, group_id,
			       strerror(err));
	}
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		char offenders[256];

		close(fd);
		group_offenders(group_id, offenders, sizeof(offenders));
		return pn_fail(EBUSY, "%s: IOMMU group %d is not viable: every device in it must be "
			       "bound to vfio-pci or unbound%s%s", who, group_id,
			       offenders[0] ? "; bound to host drivers: " : "", offenders);
	}
	if (first) {
		ret = container_open(who);
		if (ret < 0) {
			close(fd);
			return ret;
		}
	}
	if (ioctl(fd, VFIO_GROUP_SET_CONTAINER, &container_fd) < 0) {
		int err = errno;

		ret = pn_fail(err, "%s: attaching IOMMU group %d to the container: %s", who, group_id,
			      strerror(err));
		goto fail;
	}
	if (first) {
		ret = container_set_iommu(who);
		if (ret < 0) {
			ioctl(fd, VFIO_GROUP_UNSET_CONTAINER);
			goto fail;
		}
	}
	groups[group_count++] = (struct group){.id = group_id, .fd = fd, .refs = 1};
	*group_fd = fd;
	return 0;
fail:
	close(fd);
	if (first) {
		/* dma_iommu_attach() may have failed halfway: let it forget the container. */
		dma_iommu_detach();
		close(container_fd);
		container_fd = -1;
	}
	return ret;
}

int vfio_container_group_get(int group_id, const char *who, int *group_fd)
{
	struct group *group;
	int ret = 0;

	pthread_mutex_lock(&lock);
	group = find_group(group_id);
	if (group) {
		group->refs++;
		*group_fd = group->fd;
	} else {
		ret = group_attach(group_id, who, group_fd);
	}
	pthread_mutex_unlock(&lock);
	return ret;
}

void vfio_container_group_put(int group_id)
{
	struct group *group;

	pthread_mutex_lock(&lock);
	group = find_group(group_id);
	if (group && --group->refs == 0) {
		int last = (group_count == 1);

		/* The kernel unmaps the IOMMU when the last group leaves, so the
		 * DMA layer must forget its mappings before that happens. */
		if (last)
			dma_iommu_detach();
		ioctl(group->fd, VFIO_GROUP_UNSET_CONTAINER);
		close(group->fd);
		*group = groups[--group_count];
		if (last) {
			close(container_fd);
			container_fd = -1;
		}
	}
	pthread_mutex_unlock(&lock);
}

int vfio_container_group_fd(int group_id)
{
	struct group *group;
	int fd;

	pthread_mutex_lock(&lock);
	group = find_group(group_id);
	fd = group ? group->fd : -1;
	pthread_mutex_unlock(&lock);
	return fd;
}

int vfio_container_fd(void)
{
	int fd;

	pthread_mutex_lock(&lock);
	fd = container_fd;
	pthread_mutex_unlock(&lock);
	return fd;
}
