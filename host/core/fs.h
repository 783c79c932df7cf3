/* File-system helpers shared by the library and the command line. */
#ifndef CS_FS_H
#define CS_FS_H

/* mkdir -p: creates `path` and its missing parents (mode 0777 before the
 * umask). Returns 0, or -1 with errno set. */
int cs_mkdir_p(const char *path);

#endif
