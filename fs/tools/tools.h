/*
 * The offline tools, one entry point per subcommand of the jetcryptfs
 * binary. Each takes the subcommand's own argv (argv[0] is the command
 * name) and returns the process exit status (status.h).
 *
 *   inspect FILE|DIR...   headers, no key needed
 *   cat FILE              decrypt one backing file to stdout
 *   fsck BACKING_DIR      verify every block of every file (read-only)
 *   encrypt BACKING_DIR   encrypt the plaintext files of an adopted store in place
 *   rekey BACKING_DIR     re-encrypt files not under the current key and cipher
 */
#ifndef JCFS_TOOLS_H
#define JCFS_TOOLS_H

int cmd_inspect(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_fsck(int argc, char **argv);
int cmd_encrypt(int argc, char **argv);
int cmd_rekey(int argc, char **argv);

#endif
