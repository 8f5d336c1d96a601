#include "core.h"

#define DSP_CORE_ABI_VERSION 2

int dsp_core_abi_version(void)
{
    return DSP_CORE_ABI_VERSION;
}
