/*
 * The Lambda package's `bootstrap`: a tiny static launcher.  Owner: lambda.
 *
 * The package carries its own C library and dynamic loader (lib/), so vmpipe
 * runs on whatever glibc the Lambda image has.  The kernel would load the
 * program with the image's /lib64/ld-linux-x86-64.so.2; instead we exec the
 * bundled loader and hand it the real binary:
 *
 *   ROOT/lib/ld-linux-x86-64.so.2 --library-path ROOT/lib ROOT/bin/vmpipe lambda
 *
 * ROOT is this file's directory (/proc/self/exe), so the package runs from
 * wherever it is unpacked.  With arguments (`./bootstrap check -c etc/x.ini`)
 * they replace `lambda`, for trying the package by hand.  Built with -static:
 * it must not itself depend on the image's libraries.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef LOADER_NAME
#define LOADER_NAME "ld-linux-x86-64.so.2"
#endif

int main(int argc, char **argv)
{
	char root[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", root, sizeof root - 1);
	if (n <= 0) {
		perror("bootstrap: /proc/self/exe");
		return 70;
	}
	root[n] = '\0';
	char *slash = strrchr(root, '/');
	*slash = '\0';

	char loader[PATH_MAX + 64], libdir[PATH_MAX + 8], prog[PATH_MAX + 16];
	snprintf(loader, sizeof loader, "%s/lib/%s", root, LOADER_NAME);
	snprintf(libdir, sizeof libdir, "%s/lib", root);
	snprintf(prog, sizeof prog, "%s/bin/vmpipe", root);

	char *args[argc + 8];
	int k = 0;
	args[k++] = loader;
	args[k++] = "--library-path";
	args[k++] = libdir;
	args[k++] = prog;
	if (argc > 1)
		for (int i = 1; i < argc; i++)
			args[k++] = argv[i];
	else
		args[k++] = "lambda";
	args[k] = NULL;
	execv(loader, args);
	perror("bootstrap: cannot start the bundled loader");
	return 70;
}
