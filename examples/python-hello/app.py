"""A WatchDog integration written in Python: the example of the guide
`docs/writing-an-integration.md`.

It reads one team of the Hello Team API (a small public-style JSON API at
`https://api.example.com`; the tests serve it on loopback): the team, then its
members page by page. It emits `hello.team` and `hello.member` evidence and
checks that every member uses two-step verification.

Built into a component with componentize-py against the repository's `wit/`:

    componentize-py -d wit -w watchdog:integration/plugin componentize \
        -p examples/python-hello app -o python-hello.wasm

HTTP goes through `wasi:http/outgoing-handler`, the only network the sandbox
gives. The API token never reaches this code: the host adds the
`authorization` header to requests for the declared origin.
"""

import json
from typing import List, Optional, Tuple

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, outgoing_handler, streams
from wit_world.imports import wasi_http_types as http
from wit_world.imports.watchdog_integration_types import (
    Check,
    CheckStatus,
    ConfigEntry,
    ConfigField,
    EgressRule,
    Error_Forbidden,
    Error_Internal,
    Error_InvalidConfig,
    Error_Network,
    Error_NotFound,
    Error_Unauthorized,
    Error_Upstream,
    Evidence,
    EvidenceKind,
    FieldProblem,
    Finding,
    FindingStatus,
    Forbidden,
    KindCount,
    Manifest,
    Route,
    SecretHeader,
    Severity,
    Source,
    Summary,
    UpstreamFailure,
    Warning,
)

AUTHORITY = "api.example.com"
ORIGIN = "https://" + AUTHORITY
KIND_TEAM = "hello.team"
KIND_MEMBER = "hello.member"
# A guard against an API that never stops paging.
MAX_PAGES = 1000
# Bytes asked of the body stream per read.
CHUNK = 64 * 1024

# What `configure` accepted, for `validate` and `collect` in the same instance.
_team: Optional[str] = None


class Integration(exports.Integration):
    def manifest(self) -> Manifest:
        return Manifest(
            id="python-hello",
            name="Hello Team (Python example)",
            version="0.1.0",
            contract_version="0.1.0",
            description=(
                "Reads one team of the Hello Team API and checks that every "
                "member uses two-step verification. The example integration "
                "of the guide, written in Python."
            ),
            config=[
                ConfigField(
                    name="team",
                    label="Team",
                    help="The team's identifier, such as `t-100` (letters, digits and hyphens).",
                    required=True,
                    secret=False,
                ),
                ConfigField(
                    name="api-token",
                    label="API token",
                    help="A read-only token from the Hello Team settings page.",
                    required=True,
                    secret=True,
                ),
            ],
            egress=[
                EgressRule(
                    origin=ORIGIN,
                    routes=[
                        Route(method="GET", path="/v1/teams/*"),
                        Route(method="GET", path="/v1/teams/*/members"),
                    ],
                )
            ],
            secrets=[
                SecretHeader(
                    field="api-token",
                    origin=ORIGIN,
                    header="authorization",
                    template="Bearer {api-token}",
                )
            ],
            evidence_kinds=[
                EvidenceKind(name=KIND_TEAM, description="The team the token reads."),
                EvidenceKind(
                    name=KIND_MEMBER,
                    description="A member of the team, with role and two-step verification.",
                ),
            ],
        )

    def configure(self, config: List[ConfigEntry]) -> None:
        global _team
        values = {entry.name: entry.value for entry in config}
        problems = []
        team = values.pop("team", None)
        if team is None:
            problems.append(FieldProblem(field="team", problem="is required, such as `t-100`"))
        elif not _is_segment(team):
            problems.append(
                FieldProblem(field="team", problem="letters, digits and hyphens only, such as `t-100`")
            )
        for unknown in values:
            problems.append(FieldProblem(field=unknown, problem="unknown field; the only field is `team`"))
        if problems:
            raise Err(Error_InvalidConfig(problems))
        _team = team

    def validate(self) -> List[Check]:
        url = _team_url()
        status, body = _get(url)
        if status == 200:
            name = _parse(status, body).get("name", "")
            return [
                Check(
                    id="team",
                    title="Team",
                    status=CheckStatus.PASS,
                    detail=f"team `{name}` is readable",
                    remedy="",
                )
            ]
        raise Err(_error_for(status, "the team", body))

    def collect(self, checkpoint: Optional[str]) -> Summary:
        team_url = _team_url()
        status, body = _get(team_url)
        if status != 200:
            raise Err(_error_for(status, "the team", body))
        team = _parse(status, body)
        host.emit([_evidence(KIND_TEAM, str(team["id"]), team_url, _text(body).strip())])

        members = 0
        without_mfa = []
        warnings = []
        url: Optional[str] = team_url + "/members"
        pages = 0
        while url is not None:
            pages += 1
            if pages > MAX_PAGES:
                warnings.append(
                    Warning(
                        resource="members",
                        message=f"stopped after {MAX_PAGES} pages; some members may be missing",
                        cause=None,
                        incomplete=True,
                    )
                )
                break
            status, body = _get(url)
            if status != 200:
                raise Err(_error_for(status, "the members", body))
            page = _parse(status, body)
            batch = []
            for member, text in _elements(_text(body), "members"):
                batch.append(_evidence(KIND_MEMBER, str(member["id"]), url, text))
                if not member.get("mfa", False):
                    without_mfa.append(str(member["id"]))
            host.emit(batch)
            members += len(batch)
            next_page = page.get("next_page")
            url = f"{team_url}/members?page={next_page}" if next_page is not None else None
            host.log(host.LogLevel.DEBUG, f"read {members} members so far")

        finding = Finding(
            id="mfa-all-members",
            title="Two-step verification for every member",
            status=FindingStatus.FAIL if without_mfa else FindingStatus.PASS,
            severity=Severity.HIGH,
            population=members,
            failing=without_mfa,
            detail=f"{len(without_mfa)} of {members} members do not use two-step verification.",
            remedy="Ask these members to turn on two-step verification, or require it in the team settings.",
            controls=["SOC2:CC6.1", "ISO27001:2022:A.8.5"],
        )
        return Summary(
            counts=[KindCount(kind=KIND_TEAM, count=1), KindCount(kind=KIND_MEMBER, count=members)],
            findings=[finding],
            warnings=warnings,
            checkpoint=None,
        )


def _team_url() -> str:
    if _team is None:
        raise Err(Error_Internal("configure was not called"))
    return f"{ORIGIN}/v1/teams/{_team}"


def _is_segment(value: str) -> bool:
    return 0 < len(value) <= 64 and all(c.isascii() and (c.isalnum() or c == "-") for c in value)


def _evidence(kind: str, ident: str, url: str, data: str) -> Evidence:
    """A record whose data is text of the response `url` answered: the host
    refuses data that is not a byte-exact span of the body it cites, so
    records are cut out of the page, never printed again with json.dumps."""
    return Evidence(kind=kind, id=ident, source=Source(method="GET", url=url), data=data)


_DECODER = json.JSONDecoder()
_SPACE = " \t\r\n"


def _text(body: bytes) -> str:
    return body.decode("utf-8")


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in _SPACE:
        at += 1
    return at


def _expect(text: str, at: int, char: str) -> int:
    at = _skip(text, at)
    if text[at:at + 1] != char:
        raise Err(Error_Upstream(UpstreamFailure(status=0, detail=f"expected `{char}` at {at} of the page")))
    return _skip(text, at + 1)


def _elements(text: str, key: str) -> List[Tuple[dict, str]]:
    """Each element of the array under `key` in the page's top-level object,
    parsed and as its exact text in the page."""
    at = _expect(text, 0, "{")
    while text[at:at + 1] != "}":
        name, at = _DECODER.raw_decode(text, at)
        at = _expect(text, at, ":")
        if name != key:
            _, at = _DECODER.raw_decode(text, at)
        else:
            at = _expect(text, at, "[")
            elements = []
            while text[at:at + 1] != "]":
                value, end = _DECODER.raw_decode(text, at)
                elements.append((value, text[at:end]))
                at = _skip(text, end)
                if text[at:at + 1] == ",":
                    at = _skip(text, at + 1)
            return elements
        at = _skip(text, at)
        if text[at:at + 1] == ",":
            at = _skip(text, at + 1)
    return []


def _parse(status: int, body: bytes) -> dict:
    try:
        value = json.loads(body)
    except ValueError as e:
        raise Err(Error_Upstream(UpstreamFailure(status=0, detail=f"the API answered HTTP {status} with a body that is not JSON: {e}")))
    if not isinstance(value, dict):
        raise Err(Error_Upstream(UpstreamFailure(status=0, detail="the API answered JSON that is not an object")))
    return value


def _error_for(status: int, what: str, body: bytes):
    """The contract's typed error for a status other than 200."""
    detail = body[:200].decode("utf-8", "replace")
    if status == 401:
        return Error_Unauthorized(
            f"the API token was rejected (HTTP 401); create a new token and set it again: {detail}"
        )
    if status == 403:
        return Error_Forbidden(Forbidden(resource=what, missing=None, detail=detail))
    if status == 404:
        return Error_NotFound(f"{what} does not exist for this token (HTTP 404)")
    return Error_Upstream(UpstreamFailure(status=status, detail=f"reading {what}: {detail}"))


def _get(url: str) -> Tuple[int, bytes]:
    """One GET through wasi:http, blocking until the whole body is read."""
    request = http.OutgoingRequest(http.Fields())
    request.set_method(http.Method_Get())
    request.set_scheme(http.Scheme_Https())
    request.set_authority(AUTHORITY)
    request.set_path_with_query(url[len(ORIGIN):])
    http.OutgoingBody.finish(request.body(), None)
    try:
        future = outgoing_handler.handle(request, None)
    except Err as e:
        raise Err(Error_Network(f"GET {url}: {e.value}"))
    with future:
        future.subscribe().block()
        # option<result<result<incoming-response, error-code>>>: ready, first
        # read, and then the response or why there is none (such as the
        # host's egress policy refusing the request).
        outcome = future.get()
        if outcome is None or isinstance(outcome, Err):
            raise Err(Error_Internal(f"GET {url}: the response was not ready after blocking"))
        if isinstance(outcome.value, Err):
            raise Err(Error_Network(f"GET {url}: {outcome.value.value}"))
        response = outcome.value.value
    with response:
        status = response.status()
        incoming = response.consume()
        chunks = []
        with incoming.stream() as stream:
            while True:
                try:
                    chunks.append(stream.blocking_read(CHUNK))
                except Err as e:
                    if isinstance(e.value, streams.StreamError_Closed):
                        break
                    raise Err(Error_Network(f"GET {url}: reading the body failed: {e.value}"))
        http.IncomingBody.finish(incoming)
    return status, b"".join(chunks)
