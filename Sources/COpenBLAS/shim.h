#include <cblas.h>

// LAPACK's symmetric eigensolver (OpenBLAS ships LAPACK; Debian's openblas headers omit lapack.h).
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info);
