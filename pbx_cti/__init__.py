"""The onboard contact center: PBX, SIP, CTI, IVR, recording and notifications."""
