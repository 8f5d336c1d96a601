/* Version of the C core's ABI, checked by dsp/__init__.py so a stale build is caught at import. */
#ifndef PRIBOX_CORE_H
#define PRIBOX_CORE_H

/* cffi:begin */
int dsp_core_abi_version(void);
/* cffi:end */

#endif
