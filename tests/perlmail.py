"""Read our messages with software we did not write: Perl's Email::MIME and Mail::DKIM.

Python's `email.policy.default` forgives faults that every other reader trips on (and
has faults of its own, such as CPython gh-128110), so the suite also reads messages
back with Perl (Debian libemail-mime-perl and libmail-dkim-perl; .ci/run installs them).
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from tests.conftest import TOOL_MISSING, require_tool

_PACKAGES = {"Email::MIME": "libemail-mime-perl", "Mail::DKIM::Verifier": "libmail-dkim-perl"}

# Email::MIME parses the message; header_as_obj gives the addresses with their phrases
# decoded (RFC 2047 after tokenising, as §6.2 says), header_str any other header decoded.
READ = r"""
use strict; use warnings; use Email::MIME; use JSON::PP;
local $/; my $raw = <STDIN>;
my $m = Email::MIME->new($raw);
my %out;
for my $h (qw(From To)) {
  $out{$h} = [ map { +{ name => $_->phrase // '', address => $_->address } }
               $m->header_as_obj($h)->addresses ];
}
$out{$_} = $m->header_str($_) for qw(Subject List-Id Message-ID List-Unsubscribe);
my @parts = $m->subparts;
$out{parts} = [ map { +{ type => scalar $_->content_type, body => $_->body_str } } @parts ];
print JSON::PP->new->utf8->canonical->encode(\%out);
"""

# Mail::DKIM verifies with the public key handed to it, no DNS: the key lookup answers
# DIGEST_TEST_DKIM_RECORD (a DKIM TXT value) for the one name DIGEST_TEST_DKIM_NAME only.
VERIFY = r"""
use strict; use warnings; use JSON::PP; use Mail::DKIM::Verifier; use Mail::DKIM::PublicKey;
no warnings 'redefine';
*Mail::DKIM::PublicKey::fetch_async = sub {
  my ($class, %prms) = @_;
  my $on_success = ($prms{Callbacks} || {})->{Success} || sub { $_[0] };
  my $name = "$prms{Selector}._domainkey.$prms{Domain}";
  return sub { $on_success->() } unless $name eq $ENV{DIGEST_TEST_DKIM_NAME};
  my $key = $class->parse($ENV{DIGEST_TEST_DKIM_RECORD});
  $key->{Selector} = $prms{Selector};
  $key->{Domain} = $prms{Domain};
  $key->check;
  return sub { $on_success->($key) };
};
binmode STDIN;
local $/; my $raw = <STDIN>;
my $v = Mail::DKIM::Verifier->new;
$v->PRINT($raw);
$v->CLOSE;
my @sigs = map { +{ result => scalar $_->result, headers => scalar $_->headerlist,
                    domain => scalar $_->domain } } $v->signatures;
print JSON::PP->new->canonical->encode(
  { result => $v->result, detail => $v->result_detail, signatures => \@sigs });
"""


def _perl(module: str) -> str:
    perl = require_tool("perl")
    probe = subprocess.run([perl, f"-M{module}", "-e", "1"], capture_output=True)
    if probe.returncode != 0:
        if os.environ.get("DIGEST_REQUIRE_TOOLS") == "1":
            pytest.fail(
                f"Perl {module} ({_PACKAGES[module]}) is required here (DIGEST_REQUIRE_TOOLS=1)"
            )
        pytest.skip(f"{TOOL_MISSING}Perl {module} ({_PACKAGES[module]})")
    return perl


def read_message(data: bytes) -> dict[str, Any]:
    """The message as Perl Email::MIME reads it: addresses, decoded headers, body parts."""
    perl = _perl("Email::MIME")
    done = subprocess.run(
        [perl, "-e", READ], input=data, capture_output=True, check=True, timeout=60
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def verify_dkim(data: bytes, name: str, record: str) -> dict[str, Any]:
    """Mail::DKIM's verdict, with `record` (a DKIM TXT value) as the key at `name` only.

    `name` is `selector._domainkey.domain`; a signature naming any other key finds none.
    """
    perl = _perl("Mail::DKIM::Verifier")
    done = subprocess.run(
        [perl, "-e", VERIFY],
        input=data,
        capture_output=True,
        check=True,
        timeout=60,
        env={**os.environ, "DIGEST_TEST_DKIM_NAME": name, "DIGEST_TEST_DKIM_RECORD": record},
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]
