/* being written; replaced before the first commit */
#include "postgres.h"
