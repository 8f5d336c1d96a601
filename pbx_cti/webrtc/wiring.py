"""The softphone in the daemon: the api service calls `start_softphone` after it made the
agent API, and `stop` when it stops.  With `[webrtc] enabled`: the endpoint in its thread, the
softphone's WebSocket on the API, and with `https_port` an HTTPS site for the same application
with the box's own certificate (made in the state directory on first start)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp import web

from .certificate import ensure_certificate, fingerprint, server_context

log = logging.getLogger("pribox.webrtc")


class Softphone:
    def __init__(self, runner):
        self.runner = runner
        self.https_port: int | None = None
        self.certificate: Path | None = None

    @property
    def endpoint(self):
        return self.runner.endpoint

    def describe(self) -> str:
        """For the service's health: softphones now, browsers lost, garbage dropped at ICE ports."""
        endpoint = self.runner.endpoint
        if endpoint is None or not self.runner.running:
            return "softphone endpoint stopped"
        counters = endpoint.counters
        dropped = sum(endpoint.dropped().values())
        return (f"{len(endpoint.sessions)} softphone(s), {counters.browsers_gone} browser(s) lost, "
                f"{counters.refused_offers} offer(s) refused, {dropped} datagram(s) dropped at ICE ports")

    def stop(self) -> None:
        self.runner.stop()


def start_softphone(api, config) -> Softphone | None:
    """The endpoint and its route on `api` (before the application is served); None when
    [webrtc] is off."""
    section = getattr(config, "webrtc", None)
    if section is None or not section.enabled:
        return None
    # aiortc is imported only by a box that serves the softphone
    from .endpoint import EndpointConfig, WebRtcEndpoint
    from .signalling import EndpointThread, install

    sip = config.sip
    phones = {phone.extension: phone.password for phone in getattr(config, "sip_phone", None) or ()}
    if not phones:
        log.warning("webrtc: no [[sip_phone]]: no agent's softphone can register")
    endpoint_config = EndpointConfig(registrar=(str(sip.address), sip.port), domain=str(sip.address),
                                     host=str(sip.address), ice_addresses=tuple(str(a) for a in section.ice_addresses),
                                     codec=section.codec)
    runner = EndpointThread(lambda: WebRtcEndpoint(endpoint_config, phones.get),
                            realtime_priority=section.realtime_priority).start()
    install(api, runner)
    log.info("webrtc: softphone on the agent API, %s, host candidates %s", section.codec,
             ", ".join(endpoint_config.ice_addresses))
    return Softphone(runner)


async def serve_https(softphone: Softphone, app_runner: web.AppRunner, config, state_dir: str | None) -> None:
    """The API's application over HTTPS on [webrtc] https_port too, with the box's certificate."""
    section = config.webrtc
    if not section.https_port:
        return
    directory = Path(state_dir or ".") / "tls"
    # Key generation and the files are off the loop: the API and the CTI keep running meanwhile.
    cert, key = await asyncio.to_thread(ensure_certificate, directory, tuple(section.https_names),
                                        tuple(dict.fromkeys(str(a) for a in section.ice_addresses)))
    context = await asyncio.to_thread(server_context, cert, key)
    site = web.TCPSite(app_runner, str(config.api.listen), section.https_port, ssl_context=context,
                       reuse_address=True)
    await site.start()
    softphone.https_port = site._server.sockets[0].getsockname()[1]
    softphone.certificate = cert
    log.info("webrtc: HTTPS on %s:%d, certificate %s (SHA-256 %s)", config.api.listen, softphone.https_port, cert,
             fingerprint(cert))
