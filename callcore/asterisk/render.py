"""Render the Asterisk configuration of an instance from its site config.

Every file is rendered in memory first; only when all of them rendered does anything get
written (each file replaced atomically), so a bad config never leaves Asterisk with half
a configuration. Applying reloads the changed modules through AMI; calls in progress stay
up (reloads do not touch live channels).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import jinja2

import seats
from callcore.asterisk import sounds
from callcore.asterisk.contract_render import TEMPLATE_FUNCTIONS
from callcore.asterisk.runtime import Runtime
from callcore.features.callsout.model import refused_patterns
from callcore.features.guard.model import BanFile, acl_conf
from callcore.features.ratings.dialplan import rating_context
from callcore.features.routing.decision import Kind, static_routes
from callcore.features.transfers.service import WRONG_NUMBER_SOUND, transfer_targets
from callcore.instance import Instance
from config.directory import Directory
from queues import priority
from seats.membership import memberships

TEMPLATES = Path(__file__).resolve().parents[2] / "asterisk-conf"

MODULES = [
    "res_timing_timerfd.so",
    "res_pjproject.so",
    "res_sorcery_config.so",
    "res_sorcery_memory.so",
    "res_sorcery_astdb.so",
    "res_geolocation.so",
    "res_pjsip.so",
    "res_pjsip_pubsub.so",
    "res_pjsip_session.so",
    "res_pjsip_authenticator_digest.so",
    "res_pjsip_endpoint_identifier_ip.so",
    "res_pjsip_endpoint_identifier_user.so",
    "res_pjsip_registrar.so",
    "res_pjsip_acl.so",  # the guard's bans (pjsip_bans.conf)
    "res_pjsip_sdp_rtp.so",
    "res_pjsip_caller_id.so",
    "res_pjsip_rfc3326.so",
    "res_pjsip_refer.so",
    "res_pjsip_dtmf_info.so",
    "res_pjsip_nat.so",
    "res_pjsip_logger.so",  # `pjsip set logger on` for operators
    "res_rtp_asterisk.so",
    "chan_pjsip.so",
    "codec_ulaw.so",
    "codec_alaw.so",
    "codec_a_mu.so",
    "codec_gsm.so",  # the core's own prompts (beeps of transfers) are GSM files
    "format_wav.so",
    "format_pcm.so",
    "format_sln.so",
    "format_gsm.so",
    "pbx_config.so",
    "app_dial.so",
    "app_queue.so",
    "app_playback.so",
    "app_userevent.so",
    "app_verbose.so",
    "app_stack.so",
    "app_exec.so",
    "app_chanspy.so",
    "app_mixmonitor.so",  # recordings (callcore/features/recordings)
    "app_transfer.so",
    "app_blind_transfer.so",
    "app_attended_transfer.so",
    "app_senddtmf.so",
    "app_softhangup.so",
    "app_confbridge.so",  # three-party hand-offs: seat, citizen, 110 (callcore/features/callsout)
    "func_dialplan.so",  # DIALPLAN_EXISTS: the static pause fallback checks the reason code
    "res_speech.so",  # res_agi needs its symbols
    "res_agi.so",
    "res_musiconhold.so",
    "func_timeout.so",
    "func_channel.so",
    "func_logic.so",
    "func_strings.so",
    "func_cut.so",
    "func_callerid.so",
    "func_global.so",
    "func_devstate.so",
    "func_pjsip_endpoint.so",
    "func_pjsip_contact.so",
    "bridge_simple.so",
    "bridge_native_rtp.so",
    "bridge_softmix.so",
    "bridge_holding.so",
    "bridge_builtin_features.so",
]

# What the controller's handlers use; everything else is filtered out by Asterisk itself
# (each event costs the engine's one consumer its parse and every handler's look).
AMI_EVENTS = [
    "AGIExecEnd",
    "FullyBooted",
    "Shutdown",
    "Reload",
    "Newchannel",
    "Hangup",
    "UserEvent",
    "DialBegin",
    "DialEnd",
    "BlindTransfer",
    "AttendedTransfer",
    "QueueCallerJoin",
    "QueueCallerLeave",
    "QueueCallerAbandon",
    "AgentCalled",
    "AgentConnect",
    "AgentComplete",
    "AgentRingNoAnswer",
    "QueueMemberAdded",
    "QueueMemberRemoved",
    "QueueMemberPause",
    "QueueMemberStatus",
    "QueueMemberPenalty",
    # supervisor listen / whisper / barge (callcore.features.supervisors.actions)
    "OriginateResponse",
    "ChanSpyStart",
    "ChanSpyStop",
    # failed SIP authentication, for the guard's bans (callcore.features.guard)
    "InvalidAccountID",
    "ChallengeResponseFailed",
    "InvalidPassword",
    "FailedACL",
]


@dataclass(frozen=True)
class Rendered:
    files: dict[str, str]  # file name -> text

    def digest(self) -> str:
        h = hashlib.sha256()
        for name in sorted(self.files):
            h.update(name.encode() + b"\0" + self.files[name].encode() + b"\0")
        return h.hexdigest()


def _md5(user: str, realm: str, password: str) -> str:
    return hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()


def _asterisk_dirs(rt: Runtime) -> tuple[str, str]:
    """Module and data folders of this Asterisk build (Debian puts modules under the triplet)."""
    root = rt.root or Path("/")
    for mod in (
        "usr/lib/x86_64-linux-gnu/asterisk/modules",
        "usr/lib/aarch64-linux-gnu/asterisk/modules",
        "usr/lib/asterisk/modules",
        "usr/lib64/asterisk/modules",
    ):
        if (root / mod).is_dir():
            break
    data = "usr/share/asterisk" if (root / "usr/share/asterisk").is_dir() else "var/lib/asterisk"
    return "/" + mod, "/" + data


def context(inst: Instance, rt: Runtime, bare: bool = False) -> dict:
    cfg = inst.config
    sec = inst.secrets()
    directory = Directory(cfg)
    modules_dir, data_dir = _asterisk_dirs(rt)
    paths = {
        "etc": rt.ast_path(inst, inst.etc),
        "run": rt.ast_path(inst, inst.run),
        "log": rt.ast_path(inst, inst.log),
        "spool": rt.ast_path(inst, inst.spool),
        "lib": rt.ast_path(inst, inst.lib),
        "sounds": rt.ast_path(inst, inst.sounds),
        "recordings": rt.ast_path(inst, inst.spool / "recordings"),
        "modules": modules_dir,
        "data": data_dir,
    }
    static = []
    for h, r in static_routes(directory):
        window = ""
        if h.transition is not None:
            window = f"{h.transition.start:%Y%m%d}-{h.transition.end:%Y%m%d}"
        static.append(
            {
                "numbers": directory.variants(h),
                "kind": r.kind.value,
                "queue": r.queue,
                "priority": r.priority,
                "hotline": r.hotline,
                "trunk": r.trunk if r.kind is Kind.TRUNK else "",
                "trunk_exten": r.trunk_exten,
                "trunk_timeout": r.trunk_timeout or "",
                "window": window,
                "notice": r.notice,
            }
        )
    seats = [
        {
            "id": s.id,
            "name": s.name,
            "extension": s.extension,
            "role": s.role,
            "zone": s.zone,
            "md5": _md5(s.extension, cfg.pbx.realm, sec.seat_passwords[s.id]),
        }
        for s in cfg.seats
    ]
    supervisors = [
        {
            "id": s.id,
            "name": s.name,
            "extension": s.extension,
            "md5": _md5(s.extension, cfg.pbx.realm, sec.supervisor_passwords[s.id]),
        }
        for s in cfg.supervisors
    ]
    return {
        "source": str(inst.config_path),
        "site": cfg.site,
        "targets": cfg.site.targets,
        "pbx": cfg.pbx,
        "paths": paths,
        "modules": MODULES,
        "ami_events": AMI_EVENTS,
        "ami_secret": sec.ami_secret,
        "agi_bound": f"{cfg.pbx.agi_bound_ms / 1000:g}",
        "zones": cfg.zones,
        "trunks": cfg.trunks,
        "carrier_id": cfg.carrier_trunk,
        "seats": seats,
        "supervisors": supervisors,
        "static": static,
        "general_queue": cfg.zone(cfg.general_zone).queue,
        "returned_priority": priority.RETURNED,
        # seats: feature codes, their static fallback, transfer targets (seats/)
        "features": cfg.features,
        "pause_reasons": cfg.pause_reasons,
        "seat_memberships": [(s, memberships(cfg, s)) for s in cfg.seats],
        "transfers": transfer_targets(cfg),
        # calls out: the carrier trunk they use, the hand-off targets (callcore/features/callsout/)
        "callsout": cfg.callsout,
        "callsout_trunk": cfg.carrier_trunk,
        "refused_patterns": refused_patterns(cfg.callsout),
        "refused_exceptions": sorted(
            {t.exten for t in transfer_targets(cfg)} | {e.code for e in cfg.callsout.emergency}
        ),
        "wrong_number_sound": WRONG_NUMBER_SOUND,
        "agent_bound": f"{max(cfg.pbx.agi_bound_ms / 1000, 2.0):g}",
        # bare: the same queues and static routing with no callcore at all (benchmarks)
        "bare": bare,
        "recordings": cfg.recordings,
        # 一次一评 after the seat hangs up (callcore/features/ratings/dialplan.conf.j2)
        **rating_context(None if bare else cfg.ratings),
    }


# Each feature's own dialplan snippet (`<feature>/dialplan.conf.j2`), included by
# extensions.conf.j2 as "<name>/dialplan.conf.j2".
_FEATURES = Path(__file__).resolve().parents[1] / "features"
FEATURE_DIALPLANS = {
    "firstcontact": jinja2.FileSystemLoader(_FEATURES / "firstcontact"),
    "transfers": jinja2.FileSystemLoader(_FEATURES / "transfers"),
    "seats": jinja2.FileSystemLoader(Path(seats.__file__).resolve().parent),
    "supervisors": jinja2.FileSystemLoader(_FEATURES / "supervisors"),
    "callsout": jinja2.FileSystemLoader(_FEATURES / "callsout"),
    "recordings": jinja2.FileSystemLoader(_FEATURES / "recordings"),
    "ratings": jinja2.FileSystemLoader(_FEATURES / "ratings"),
}


def render(inst: Instance, rt: Runtime, bare: bool = False) -> Rendered:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [jinja2.FileSystemLoader(TEMPLATES), jinja2.PrefixLoader(FEATURE_DIALPLANS)]
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.globals.update(TEMPLATE_FUNCTIONS)
    ctx = context(inst, rt, bare)
    files = {}
    for tpl in sorted(TEMPLATES.glob("*.j2")):
        files[tpl.stem] = env.get_template(tpl.name).render(ctx)
    # the guard's bans as they stand (the engine rewrites this file as bans come and go)
    files["pjsip_bans.conf"] = acl_conf(BanFile(inst.lib / "bans.json").read().values())
    return Rendered(files)


def write(inst: Instance, rendered: Rendered) -> list[str]:
    """Replace each file atomically; returns the names that changed."""
    inst.ensure_dirs()
    changed = []
    for name, text in rendered.files.items():
        path = inst.etc / name
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        tmp = path.with_name(f".{name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        if os.geteuid() == 0 and (owner := _owner(inst)) is not None:
            os.chown(tmp, 0, owner)
        os.replace(tmp, path)
        changed.append(name)
    for stale in inst.etc.glob("*.conf"):
        if stale.name not in rendered.files:
            stale.unlink()
            changed.append(stale.name)
    return changed


def _owner(inst: Instance) -> int | None:
    try:
        return inst.etc.stat().st_gid
    except OSError:
        return None


def render_all(inst: Instance, rt: Runtime, bare: bool = False) -> list[str]:
    """Render config and audio for the instance; returns the config files that changed."""
    rendered = render(inst, rt, bare)  # raises before anything is written
    sounds.make_all(inst.config, inst.sounds, inst.config_path.parent)
    return write(inst, rendered)


# Which Asterisk module to reload when a rendered file changes.
RELOADS = {
    "pjsip.conf": "res_pjsip.so",
    "extensions.conf": "pbx_config.so",
    "queues.conf": "app_queue.so",
    "queuerules.conf": "app_queue.so",
    "manager.conf": "manager",
    "musiconhold.conf": "res_musiconhold.so",
    "features.conf": "features",
    "rtp.conf": "res_rtp_asterisk.so",
    "indications.conf": "indications",
    "logger.conf": "logger",
    "confbridge.conf": "app_confbridge.so",
}


def modules_to_reload(changed: list[str]) -> list[str]:
    return sorted({RELOADS[n] for n in changed if n in RELOADS})
