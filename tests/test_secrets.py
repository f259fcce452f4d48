"""Secrets a spec reads from the environment never reach an output, in any spelling."""

import base64
import json
import urllib.parse

from http_servers import served
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mlspec.cli import main
from mlspec.secrets import MASK, mask, mask_data, secret_values

TOKEN = "Bearer s3cret-Token_value+/42"


def spellings_of(secret: str) -> list[str]:
    raw = secret.encode()
    return [
        secret,
        secret.lower(),
        secret.upper(),
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        json.dumps(secret)[1:-1],
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ]


def test_every_spelling_is_masked():
    for spelling in spellings_of(TOKEN):
        masked = mask(f"before {spelling} after", [TOKEN])
        assert spelling not in masked and MASK in masked, spelling
    token = TOKEN.split()[1]  # the token alone, without "Bearer"
    assert token not in mask(f"key={token}", [TOKEN])


def test_mask_data_walks_nested_values_and_leaves_other_text():
    data = {"a": [TOKEN.lower(), 3, None, {"k": f"x {TOKEN} y"}], "plain": "nothing secret"}
    masked = mask_data(data, (TOKEN,))
    assert masked == {"a": [MASK, 3, None, {"k": f"x {MASK} y"}], "plain": "nothing secret"}
    assert mask_data(data, ()) is data


def test_secret_values_reads_only_set_variables(monkeypatch):
    monkeypatch.setenv("MLSPEC_TEST_SECRET", TOKEN)
    monkeypatch.setenv("MLSPEC_TEST_BLANK", "  ")
    monkeypatch.delenv("MLSPEC_TEST_UNSET", raising=False)
    assert secret_values(["MLSPEC_TEST_SECRET", "MLSPEC_TEST_BLANK", "MLSPEC_TEST_UNSET"]) == (TOKEN,)


def echoing_app() -> Starlette:
    """An endpoint that answers 400 quoting the Authorization header it got, in several spellings."""

    async def infer(request: Request):
        secret = request.headers.get("authorization", "")
        body = " | ".join(spellings_of(secret))
        return PlainTextResponse(f"bad request from {body}", status_code=400)

    return Starlette(routes=[Route("/v2/models/m/infer", infer, methods=["POST"]), Route("/v2/models/m", infer, methods=["GET"])])


def test_a_server_echoing_the_secret_does_not_put_it_in_any_report(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLSPEC_TEST_TOKEN", TOKEN)
    monkeypatch.chdir(tmp_path)
    with served(echoing_app()) as url:
        spec = tmp_path / "echo.mlspec"
        spec.write_text(
            "model m {\n"
            f'  http "{url}/v2/models/m/infer" protocol kserve_v2\n'
            '  header "Authorization" env "MLSPEC_TEST_TOKEN"\n'
            "  retries 0\n"
            "  input text\n"
            "  output probabilities labels [negative, positive]\n"
            "}\n"
            'capability "C" { mft "t" { template "good" -> positive } }\n',
            encoding="utf-8",
        )
        code = main(["run", str(spec), "--no-cache", "--junit", "junit.xml", "--json", "results.json"])
    out = capsys.readouterr()
    assert code == 3
    outputs = [out.out, out.err, (tmp_path / "junit.xml").read_text(), (tmp_path / "results.json").read_text()]
    assert "HTTP 400" in out.out  # the error itself is reported
    for text in outputs:
        for spelling in spellings_of(TOKEN) + [TOKEN.split()[1]]:
            assert spelling not in text
