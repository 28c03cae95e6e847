/**
 * A build's workspace as a file system of its own: a sparse ext4 image of the build's disk limit, mounted
 * from a loop device. Writing past the limit fails with "no space left" inside the build and nowhere else;
 * removing the build is an unmount and one file deleted.
 */
import { closeSync, ftruncateSync, openSync, rmSync, statfsSync } from "node:fs";
import path from "node:path";
import { run } from "./host-tools";

/**
 * Makes and mounts the disk. Its root folder stays root's (0755): the build owns only the folders the
 * runner makes in it, so it can never swap one of them for a link that the runner, or bwrap binding it,
 * would follow on the host.
 */
export async function createDisk(options: {
  image: string;
  mountPoint: string;
  sizeMb: number;
}): Promise<void> {
  const fd = openSync(options.image, "wx", 0o600);
  try {
    ftruncateSync(fd, options.sizeMb * 1024 * 1024);
  } finally {
    closeSync(fd);
  }
  await run("mkfs.ext4", [
    "-q",
    "-F",
    "-m",
    "0",
    "-O",
    "^has_journal",
    "-E",
    "root_owner=0:0,lazy_itable_init=1",
    options.image,
  ]);
  await run("mount", ["-o", "loop,nosuid,nodev", options.image, options.mountPoint]);
  rmSync(path.join(options.mountPoint, "lost+found"), { recursive: true, force: true });
}

/** Bytes the build can still write to the mounted workspace (ext4 keeps a few blocks back from it). */
export function diskAvailable(mountPoint: string): number {
  const stats = statfsSync(mountPoint);
  return stats.bavail * stats.bsize;
}

/** Unmounts (detaching the loop device) and deletes the image; both are fine to call on what is gone. */
export async function removeDisk(image: string, mountPoint: string): Promise<void> {
  try {
    await run("umount", [mountPoint]);
  } catch (error) {
    if (!/not mounted|no mount point|not found/i.test((error as Error).message)) {
      // Busy (a process still holds a file): detach lazily; the kernel frees it once the last user is gone.
      await run("umount", ["-l", mountPoint]).catch(() => undefined);
    }
  }
  rmSync(image, { force: true });
}
