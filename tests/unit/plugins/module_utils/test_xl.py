from __future__ import annotations

import json

import pytest

from ansible_collections.consolidation.xen.plugins.module_utils import xl

# Captured read-only on the lab's blade1 (Debian 12, Xen 4.17.7 under QEMU TCG) with `xl info`, `xl list`
# and `xl list -l`, byte for byte (the blank after xen_caps, the empty xen_changeset, the tabs in the
# `xl list` header). The module tests reuse them.
XL_INFO = (
    "host                   : blade1\n"
    "release                : 6.1.0-56-amd64\n"
    "version                : #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)\n"
    "machine                : x86_64\n"
    "nr_cpus                : 1\n"
    "max_cpu_id             : 0\n"
    "nr_nodes               : 1\n"
    "cores_per_socket       : 1\n"
    "threads_per_core       : 1\n"
    "cpu_mhz                : 2099.999\n"
    "hw_caps                : 0fcbf3fd:f6d8320b:ec500800:00000075:00000005:01884329:00000204:00000000\n"
    "virt_caps              : pv hvm hap gnttab-v1 gnttab-v2\n"
    "total_memory           : 2047\n"
    "free_memory            : 1000\n"
    "sharing_freed_memory   : 0\n"
    "sharing_used_memory    : 0\n"
    "outstanding_claims     : 0\n"
    "free_cpus              : 0\n"
    "xen_major              : 4\n"
    "xen_minor              : 17\n"
    "xen_extra              : .7\n"
    "xen_version            : 4.17.7\n"
    "xen_caps               : xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64 \n"
    "xen_scheduler          : credit2\n"
    "xen_pagesize           : 4096\n"
    "platform_params        : virt_start=0xffff800000000000\n"
    "xen_changeset          : \n"
    "xen_commandline        : placeholder dom0_mem=1024M,max:1024M dom0_max_vcpus=1 console=com1 "
    "com1=115200,8n1 spec-ctrl=eager-fpu\n"
    "cc_compiler            : x86_64-linux-gnu-gcc (Debian 12.2.0-14+deb12u1) 12.2.0\n"
    "cc_compile_by          : pkg-xen-devel\n"
    "cc_compile_domain      : lists.alioth.debian.org\n"
    "cc_compile_date        : Wed Nov  4 16:52:28 UTC 2026\n"
    "build_id               : 151b373fd64b321593bf987fd923cd10dabadac4\n"
    "xend_config_format     : 4\n"
)

XL_LIST = (
    "Name                                        ID   Mem VCPUs\tState\tTime(s)\n"
    "Domain-0                                     0  1024     1     r-----     572.7\n"
    "g3                                           1   128     1     -b----      14.9\n"
    "g1                                           2   128     1     -b----      13.5\n"
)

XL_LIST_L = (
    "[\n"
    "    {\n"
    '        "domid": 0,\n'
    '        "config": {\n'
    '            "c_info": {\n'
    '                "type": "pv",\n'
    '                "name": "Domain-0"\n'
    "            },\n"
    '            "b_info": {\n'
    '                "max_memkb": 1048576,\n'
    '                "target_memkb": 1048575,\n'
    '                "sched_params": {\n'
    '                    "sched": "credit2",\n'
    '                    "weight": 256,\n'
    '                    "cap": 0\n'
    "                },\n"
    '                "type.pv": {\n'
    "\n"
    "                },\n"
    '                "arch_arm": {\n'
    "\n"
    "                },\n"
    '                "arch_x86": {\n'
    "\n"
    "                }\n"
    "            }\n"
    "        }\n"
    "    },\n"
    "    {\n"
    '        "domid": 1,\n'
    '        "config": {\n'
    '            "c_info": {\n'
    '                "type": "pvh",\n'
    '                "name": "g3",\n'
    '                "domid": 4294967295,\n'
    '                "uuid": "ede3a433-9d0e-5908-b4ff-2bc3d50a8eaf",\n'
    '                "run_hotplug_scripts": "True"\n'
    "            },\n"
    '            "b_info": {\n'
    '                "max_vcpus": 1,\n'
    '                "avail_vcpus": [\n'
    "                    0\n"
    "                ],\n"
    '                "tsc_mode": "native",\n'
    '                "max_memkb": 131072,\n'
    '                "target_memkb": 131072,\n'
    '                "video_memkb": 0,\n'
    '                "sched_params": {\n'
    '                    "sched": "credit2",\n'
    '                    "weight": 256,\n'
    '                    "cap": 0\n'
    "                },\n"
    '                "claim_mode": "True",\n'
    '                "kernel": "/var/lib/xenlab/guest-vmlinuz",\n'
    '                "cmdline": "console=hvc0 xenlab.name=g3 xenlab.ip=10.77.0.103/24",\n'
    '                "ramdisk": "/var/lib/xenlab/guest-initrd.gz",\n'
    '                "type.pvh": {\n'
    "\n"
    "                },\n"
    '                "arch_arm": {\n'
    "\n"
    "                },\n"
    '                "arch_x86": {\n'
    '                    "msr_relaxed": "False"\n'
    "                }\n"
    "            },\n"
    '            "nics": [\n'
    "                {\n"
    '                    "devid": 0,\n'
    '                    "mac": "00:16:3e:b9:21:87",\n'
    '                    "bridge": "xenbr0",\n'
    '                    "nictype": "vif"\n'
    "                }\n"
    "            ],\n"
    '            "on_reboot": "restart",\n'
    '            "on_crash": "restart",\n'
    '            "on_soft_reset": "soft_reset"\n'
    "        }\n"
    "    },\n"
    "    {\n"
    '        "domid": 2,\n'
    '        "config": {\n'
    '            "c_info": {\n'
    '                "type": "pvh",\n'
    '                "name": "g1",\n'
    '                "domid": 4294967295,\n'
    '                "uuid": "eeb84451-390a-5c3d-814a-afc98daf0a58",\n'
    '                "run_hotplug_scripts": "True"\n'
    "            },\n"
    '            "b_info": {\n'
    '                "max_vcpus": 1,\n'
    '                "avail_vcpus": [\n'
    "                    0\n"
    "                ],\n"
    '                "tsc_mode": "native",\n'
    '                "max_memkb": 131072,\n'
    '                "target_memkb": 131072,\n'
    '                "video_memkb": 0,\n'
    '                "sched_params": {\n'
    '                    "sched": "credit2",\n'
    '                    "weight": 256,\n'
    '                    "cap": 0\n'
    "                },\n"
    '                "claim_mode": "True",\n'
    '                "kernel": "/var/lib/xenlab/guest-vmlinuz",\n'
    '                "cmdline": "console=hvc0 xenlab.name=g1 xenlab.ip=10.77.0.101/24",\n'
    '                "ramdisk": "/var/lib/xenlab/guest-initrd.gz",\n'
    '                "type.pvh": {\n'
    "\n"
    "                },\n"
    '                "arch_arm": {\n'
    "\n"
    "                },\n"
    '                "arch_x86": {\n'
    '                    "msr_relaxed": "False"\n'
    "                }\n"
    "            },\n"
    '            "nics": [\n'
    "                {\n"
    '                    "devid": 0,\n'
    '                    "mac": "00:16:3e:f1:14:30",\n'
    '                    "bridge": "xenbr0",\n'
    '                    "nictype": "vif"\n'
    "                }\n"
    "            ],\n"
    '            "on_reboot": "restart",\n'
    '            "on_crash": "restart",\n'
    '            "on_soft_reset": "soft_reset"\n'
    "        }\n"
    "    }\n"
    "]\n"
    "\n"
)


def test_xl_info_of_debian_xen_4_17():
    info = xl.parse_info(XL_INFO)
    assert info["xen_version"] == "4.17.7"
    assert info["total_memory"] == 2047 and info["free_memory"] == 1000
    assert info["nr_cpus"] == 1 and info["xen_major"] == 4 and info["xen_minor"] == 17
    assert info["sharing_freed_memory"] == 0 and info["outstanding_claims"] == 0
    assert info["virt_caps"] == ["pv", "hvm", "hap", "gnttab-v1", "gnttab-v2"]
    assert "shadow" not in info["virt_caps"]  # Debian's Xen: no shadow paging, no PV live migration
    assert info["hw_caps"] == "0fcbf3fd:f6d8320b:ec500800:00000075:00000005:01884329:00000204:00000000"
    assert info["xen_commandline"].endswith("com1=115200,8n1 spec-ctrl=eager-fpu")
    assert info["xen_commandline"].startswith("placeholder dom0_mem=1024M,max:1024M")
    assert info["xen_changeset"] == ""
    assert info["xen_extra"] == ".7"  # a string, not a number
    assert info["version"].startswith("#1 SMP")  # dom0's kernel, not Xen
    assert info["cpu_mhz"] == pytest.approx(2099.999)
    assert info["xen_scheduler"] == "credit2"


def test_xl_info_ignores_numa_tables_and_refuses_garbage():
    text = XL_INFO + "cpu_topology           :\ncpu:    core    socket     node\n  0:       0        0        0\n"
    info = xl.parse_info(text)
    assert info["cpu_topology"] == "" and "0" not in info and "cpu" not in info
    with pytest.raises(xl.XlParseError, match="total_memory"):
        xl.parse_info("total_memory           : lots\n")
    with pytest.raises(xl.XlParseError):
        xl.parse_info("xl: command not found\n")


def test_plain_xl_list():
    doms = xl.parse_list(XL_LIST)
    assert [d["name"] for d in doms] == ["Domain-0", "g3", "g1"]
    assert doms[0] == dict(name="Domain-0", domid=0, memory_mb=1024, vcpus=1, state="r-----", time_s=572.7)
    assert doms[1]["state"] == "-b----" and doms[1]["memory_mb"] == 128 and doms[1]["domid"] == 1


def test_plain_xl_list_states_and_migration_names():
    text = (XL_LIST.splitlines(keepends=True)[0]
            + "Domain-0                                     0  1024     1     r-----     572.7\n"
            + "m1--incoming                                 5   128     1     --p---       0.0\n"
            + "a name with blanks                           6   256     2     ------       1.2\n"
            + "dead                                         7     0     1     ----cd       3.0\n")
    doms = xl.parse_list(text)
    assert [xl.run_state(d) for d in doms] == ["running", "paused", "running", "dying"]
    assert doms[2]["name"] == "a name with blanks" and doms[2]["vcpus"] == 2
    assert [d["name"] for d in xl.copies(doms, "m1")] == ["m1--incoming"]
    assert xl.find(doms, "m1") is None and xl.run_state(None) == "absent"


@pytest.mark.parametrize("text", ["", "Domain-0 0 1024 1 r----- 1.0\n", XL_LIST + "g9 x 128 1 -b---- 1.0\n",
                                  XL_LIST + "g9 9 128 1 -q---- 1.0\n"])
def test_plain_xl_list_refuses_what_it_cannot_read(text):
    with pytest.raises(xl.XlParseError):
        xl.parse_list(text)


def test_xl_list_long_json():
    details = xl.parse_list_long(XL_LIST_L)
    assert details["Domain-0"] == dict(domid=0, type="pv", memory_mb=1024, max_memory_mb=1024, max_vcpus=None,
                                       bridges=[], cpuid_masked=False)
    # c_info.domid is libxl's "any" (4294967295); the top-level domid is the real one
    assert details["g3"] == dict(domid=1, type="pvh", memory_mb=128, max_memory_mb=128, max_vcpus=1,
                                 bridges=["xenbr0"], cpuid_masked=False)
    assert details["g1"]["domid"] == 2


def test_xl_list_long_refuses_sxp_and_broken_json():
    with pytest.raises(xl.XlParseError, match="sxp"):
        xl.parse_list_long("(domain\n\t(domid 0)\n)\n")
    with pytest.raises(xl.XlParseError, match="invalid JSON"):
        xl.parse_list_long(XL_LIST_L[:200])


def test_domains_joins_both_lists():
    doms = xl.domains(XL_LIST, XL_LIST_L)
    assert doms[1] == dict(name="g3", domid=1, type="pvh", memory_mb=128, max_memory_mb=128, vcpus=1, state="-b----",
                           bridges=["xenbr0"], cpuid_masked=False)
    # a domain libxl has no config for is missing from xl list -l but still listed
    only_dom0 = json.dumps(json.loads(XL_LIST_L)[:1])
    doms = xl.domains(XL_LIST, only_dom0)
    assert [(d["name"], d["type"]) for d in doms] == [("Domain-0", "pv"), ("g3", None), ("g1", None)]
    assert xl.domains(XL_LIST)[2]["type"] is None


def test_dom0_check(tmp_path):
    caps = tmp_path / "capabilities"
    assert "does not exist" in xl.dom0_problem(str(caps))
    caps.write_text("\n")
    assert "domU" in xl.dom0_problem(str(caps))
    caps.write_text("control_d\n")
    assert xl.dom0_problem(str(caps)) is None


def d(name, state="-b----"):
    return dict(name=name, domid=3, memory_mb=128, vcpus=1, state=state)


def test_migration_outcomes():
    out, msg = xl.migration_outcome(0, [], [d("m1")], name="m1", source="blade1", target="blade2")
    assert out == "migrated" and msg == "m1: migrated from blade1 to blade2 (xl migrate exited 0)"
    out, msg = xl.migration_outcome(1, [d("m1")], [], name="m1", source="blade1", target="blade2")
    assert out == "still_on_source"
    assert msg.startswith("m1: xl migrate exited 1 and the guest is still on blade1 (m1 running -b----)")
    out, msg = xl.migration_outcome(1, False, False, name="m1", source="blade1", target="blade2")
    assert out == "lost" and "neither blade1 nor blade2" in msg and "LOST" in msg
    # booleans work as well as lists of copies
    assert xl.migration_outcome(0, False, True)[0] == "migrated"
    assert xl.migration_outcome(1, True, False)[0] == "still_on_source"


def test_a_paused_copy_counts_and_is_reported():
    # the failed final handshake: the sender renamed itself --migratedaway and is paused, the target runs
    out, msg = xl.migration_outcome(1, [d("m1--migratedaway", "--p---")], [d("m1", "r-----")], name="m1",
                                    source="blade1", target="blade2")
    assert out == "running_twice"
    assert "TWICE" in msg and "m1--migratedaway paused --p---" in msg and "on blade2 (m1 running r-----)" in msg
    out, msg = xl.migration_outcome(1, [], [d("m1", "--p---")], name="m1", source="blade1", target="blade2")
    assert out == "migrated" and "PAUSED" in msg
    out, msg = xl.migration_outcome(1, [d("m1", "--p---")], [], name="m1", source="blade1", target="blade2")
    assert out == "still_on_source" and "PAUSED" in msg and "xl unpause" in msg


def test_an_end_that_could_not_be_checked_is_unknown():
    out, msg = xl.migration_outcome(255, [d("m1")], None, name="m1", source="blade1", target="blade2")
    assert out == "unknown" and "blade2 could not be checked" in msg and "CHECK BOTH" in msg
    assert xl.migration_outcome(0, None, [d("m1")])[0] == "unknown"


def test_migration_downtime_from_xl_lines():
    lines = [(1.0, "Saving to migration stream new xl format (info 0x3/0x0/1500)"),
             (2.0, "libxl: debug: libxl_dom_suspend.c:376:suspend_common_wait_guest_check: Domain 7:guest has "
                   "suspended"),
             (9.5, "migration target: Transfer complete, requesting permission to start domain."),
             (12.3, "migration target: Domain started successsfully."),
             (12.5, "migration sender: Target reports successful startup.")]
    assert xl.migration_downtime(lines) == 10.3
    assert xl.migration_downtime(lines[:2] + lines[4:]) == 10.5  # the sender's acknowledgement
    assert xl.migration_downtime(lines[2:]) is None  # no suspension seen
    assert xl.migration_downtime(lines[:3]) is None  # never started (a failed migration)
