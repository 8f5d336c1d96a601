"""The PBX: the call model (calls made of legs joined on the media plane), the dial plan and
the handler that takes a span's calls through number mapping, the dial plan and the IVR."""
