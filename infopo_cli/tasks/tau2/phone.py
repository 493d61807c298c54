"""The telecom customer's phone: device settings, surroundings, and the tools the customer uses.

This is the second half of telecom's dual control: the agent cannot touch the phone, it must ask
the customer to check or change settings. The state is a small nested dict (``device`` from
``user_db.toml`` with defaults filled in, ``surroundings`` set up per task). The network model is
the benchmark's: a network search picks the technology from the mode preference and the signal
available at the user's location; no SIM, a locked SIM, airplane mode, a broken APN or an inactive
line mean no service; mobile data also needs data enabled, roaming (enabled on the phone *and*
allowed on the line) when abroad, and data left in the plan. Speed = mid-range of the technology x
signal factor, divided by 10 for a poorly performing VPN and by 5 with data saver on.

Result texts are tau2-bench's. Under ``strict_upstream`` (the default) the status bar is upstream's
emoji line (``📶⁴ Excellent | 5G | 📱 Data Enabled | 🔋 80%``), a network mode outside the four
options answers "Failed to set network mode ..." and an unknown app or permission answers a text
(``App 'x' not found on this phone.``, ``Error. Permission ...``), as upstream's tools do; with
``strict_upstream`` off the status bar is written in words (``Signal: excellent | 5G | Data
Enabled | Battery 80%``) and those calls are errors.

``break_vpn`` (a set-up) degrades, upstream, the very ``default_vpn_details`` object that
``connect_vpn`` hands out (a class attribute of ``TelecomUserTools``), so a VPN reconnected later
is the poor one again; under ``strict_upstream`` that holds within the episode (upstream it also
leaks into every later environment of the process, which is not copied). Otherwise a reconnect
reaches the default, excellent server.

Functions without ``@tool`` set up scenarios (``turn_airplane_mode_on``, ``unseat_sim_card``, ...)
or check the end state (``assert_*``); only the tools are offered to the customer. The tools'
descriptions are tau2-bench's docstrings word for word: the customer model reads them.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from infopo_cli.tasks.tau.tools import ToolError
from infopo_cli.tasks.tau2.schema import s_obj, s_str
from infopo_cli.tasks.tau2.toolkit import Toolkit, tool

MODES = ["4g_5g_preferred", "4g_only", "3g_only", "2g_only"]
MODE_TECH = {"4g_only": "4G", "3g_only": "3G", "2g_only": "2G"}
TECH_SPEED = {"2G": (0.1, 0.4), "3G": (1.0, 5.0), "4G": (10.0, 100.0), "5G": (50.0, 500.0)}
SIGNAL_FACTOR = {"none": 0.0, "poor": 0.2, "fair": 0.5, "good": 0.8, "excellent": 1.0}
PERMISSIONS = ("sms", "storage", "phone", "network")
SIGNAL_ICONS = {  # tau2-bench's status bar
    "none": "📵 No Signal",
    "poor": "📶¹ Poor",
    "fair": "📶² Fair",
    "good": "📶³ Good",
    "excellent": "📶⁴ Excellent",
}
SPEED_ADVICE = {  # tau2-bench's run_speed_test
    "Very Poor": "Connection is very slow. Basic web browsing might be difficult.",
    "Poor": "Connection is slow. Web browsing may be sluggish, streaming difficult.",
    "Fair": "Connection is okay for web browsing and some standard definition streaming.",
    "Good": "Connection is good for most activities, including HD streaming.",
    "Excellent": "Connection is very fast.",
}
DEFAULT_VPN = {
    "server_address": "192.168.1.1",
    "protocol": "OpenVPN",
    "server_performance": "excellent",
}


def default_apn() -> dict:
    return {
        "apn_name": "internet",
        "reset_at_reboot": False,
        "mms_apn": "mms",
        "mmsc_url": "http://mms.carrier.com/mms/wapenc",
        "mms_proxy": None,
        "mms_port": None,
    }


def default_device() -> dict:
    return {
        "sim_card_status": "active",
        "sim_card_missing": False,
        "airplane_mode": False,
        "network_signal_strength": "good",
        "network_technology_connected": "5G",
        "network_connection_status": "connected",
        "battery_level": 80,
        "data_enabled": True,
        "roaming_enabled": False,
        "network_mode_preference": "4g_5g_preferred",
        "active_apn_settings": default_apn(),
        "wifi_enabled": False,
        "wifi_connected": False,
        "wifi_ssid": None,
        "wifi_signal_strength": "none",
        "wifi_calling_enabled": False,
        "wifi_calling_mms_over_wifi": False,
        "data_saver_mode": False,
        "vpn_enabled_setting": False,
        "vpn_connected": False,
        "vpn_details": None,
        "app_statuses": {
            "messaging": _app("messaging", sms=True, storage=True, phone=True),
            "browser": _app("browser", network=True, storage=True),
        },
    }


def default_surroundings() -> dict:
    return {
        "name": None,
        "phone_number": None,
        "is_abroad": False,
        "roaming_allowed": False,
        "signal_strength": {"2G": "poor", "3G": "fair", "4G": "good", "5G": "excellent"},
        "mobile_data_usage_exceeded": False,
        "line_active": True,
        "payment_request": None,
    }


def _app(name: str, **granted: bool) -> dict:
    return {"app_name": name, "permissions": {p: granted.get(p, False) for p in PERMISSIONS}}


def phone_state(user_db: dict[str, Any]) -> dict:
    """Full phone state from a ``user_db.toml`` dict: its values over the defaults."""
    device = _merge(default_device(), user_db.get("device", {}))
    for name, app in device["app_statuses"].items():
        app.setdefault("app_name", name)
        app["permissions"] = _merge(_app(name)["permissions"], app.get("permissions", {}))
    return {
        "device": device,
        "surroundings": _merge(default_surroundings(), user_db.get("surroundings", {})),
    }


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = (
            _merge(out[k], v)
            if isinstance(v, dict) and isinstance(out.get(k), dict)
            else copy.deepcopy(v)
        )
    return out


def vpn_repr(details: dict) -> str:
    """How tau2-bench prints the VPN details: ``str`` of ``VpnDetails.model_dump()``, whose
    ``server_performance`` is still a ``PerformanceLevel`` member."""
    perf = details.get("server_performance")
    perf = f"<PerformanceLevel.{perf.upper()}: {perf!r}>" if isinstance(perf, str) else repr(perf)
    return (
        f"{{'server_address': {details.get('server_address')!r}, "
        f"'protocol': {details.get('protocol')!r}, 'server_performance': {perf}}}"
    )


class PhoneTools(Toolkit):
    """The customer's tools on their phone (telecom), over a private copy of the phone state."""

    def __init__(self, state: dict):
        self.state = copy.deepcopy(state)
        # the server connect_vpn connects to; break_vpn degrades it under strict_upstream
        self.vpn_default = dict(DEFAULT_VPN)

    @property
    def device(self) -> dict:
        return self.state["device"]

    @property
    def around(self) -> dict:
        return self.state["surroundings"]

    # -- simulation ---------------------------------------------------------------------------------

    def sim_status(self) -> str:
        return "missing" if self.device["sim_card_missing"] else self.device["sim_card_status"]

    def simulate_network_search(self) -> None:
        d, signal = self.device, self.around["signal_strength"]
        if self.sim_status() == "active":
            d["network_connection_status"] = "connected"
            mode = d["network_mode_preference"]
            if mode == "4g_5g_preferred" and signal.get("5G", "none") != "none":
                tech = "5G"
            else:
                tech = MODE_TECH.get(mode, "4G")
            d["network_technology_connected"] = tech
            d["network_signal_strength"] = signal.get(tech, "none")
        else:
            self._no_service()
        if d["airplane_mode"] or d["active_apn_settings"]["apn_name"] == "broken":
            self._no_service()
        if not self.around["line_active"]:
            self._no_service()

    def _no_service(self) -> None:
        self.device["network_connection_status"] = "no_service"
        self.device["network_technology_connected"] = "none"
        self.device["network_signal_strength"] = "none"

    def mobile_data_working(self) -> bool:
        d, a = self.device, self.around
        if d["airplane_mode"] or d["network_signal_strength"] == "none":
            return False
        if d["network_connection_status"] == "no_service":
            return False
        if a["is_abroad"] and not (d["roaming_enabled"] and a["roaming_allowed"]):
            return False
        return d["data_enabled"] and not a["mobile_data_usage_exceeded"]

    def speed(self) -> tuple[float | None, str]:
        """(Mbps, description) of mobile data; (None, 'No Connection') when it does not work."""
        if not self.mobile_data_working():
            return None, "No Connection"
        d = self.device
        factor = 1.0
        vpn = d["vpn_details"]
        if d["vpn_connected"] and vpn and vpn.get("server_performance") == "poor":
            factor = 0.1
        if d["data_saver_mode"]:
            factor *= 0.2
        low, high = TECH_SPEED.get(d["network_technology_connected"], (0.0, 0.0))
        mbps = round((low + high) / 2.0 * SIGNAL_FACTOR[d["network_signal_strength"]] * factor, 2)
        for bound, desc in ((1, "Very Poor"), (5, "Poor"), (25, "Fair"), (100, "Good")):
            if mbps < bound:
                return mbps, desc
        return mbps, "Excellent"

    def mms_working(self) -> bool:
        d = self.device
        if not self.mobile_data_working() or d["network_technology_connected"] == "2G":
            return False
        if d["wifi_calling_enabled"] and d["wifi_calling_mms_over_wifi"]:
            return False
        if d["active_apn_settings"]["mmsc_url"] is None:
            return False
        app = d["app_statuses"].get("messaging")
        return app is not None and app["permissions"]["storage"] and app["permissions"]["sms"]

    def status_bar(self) -> str:
        bar = self._icon_bar() if self.strict_upstream else self._word_bar()
        return "Status Bar: " + bar

    def _icon_bar(self) -> str:
        """tau2-bench's status bar (``TelecomUserTools._check_status_bar``)."""
        d, parts = self.device, []
        tech = d["network_technology_connected"]
        if d["airplane_mode"]:
            parts.append("✈️ Airplane Mode")
        else:
            parts.append(SIGNAL_ICONS.get(d["network_signal_strength"], "📵 No Signal"))
            if tech != "none":
                parts.append(tech)
            if d["data_enabled"] and tech != "none":
                parts.append("📱 Data Enabled")
                if d["data_saver_mode"]:
                    parts.append("🔽 Data Saver")
            else:
                parts.append("📵 Data Disabled")
        if d["wifi_enabled"] and d["wifi_connected"]:
            parts.append(f"📡 Connected to {d['wifi_ssid']}" if d["wifi_ssid"] else "📡 Enabled")
        if d["vpn_connected"]:
            parts.append("🔒 VPN Connected")
        parts.append(f"🔋 {d['battery_level']}%")
        return " | ".join(parts)

    def _word_bar(self) -> str:
        """The same indicators in words (the project's rule: no emoji for the model to read)."""
        d = self.device
        parts = []
        if d["airplane_mode"]:
            parts.append("Airplane Mode")
        else:
            parts.append(f"Signal: {d['network_signal_strength']}")
            if d["network_technology_connected"] != "none":
                parts.append(d["network_technology_connected"])
            if d["data_enabled"] and d["network_technology_connected"] != "none":
                parts.append("Data Enabled" + (" (Data Saver)" if d["data_saver_mode"] else ""))
            else:
                parts.append("Data Disabled")
        if d["wifi_enabled"] and d["wifi_connected"]:
            parts.append(f"Wi-Fi: {d['wifi_ssid'] or 'connected'}")
        if d["vpn_connected"]:
            parts.append("VPN Connected")
        parts.append(f"Battery {d['battery_level']}%")
        return " | ".join(parts)

    def _with_bar(self, text: str) -> str:
        return f"{text}\n{self.status_bar()}"

    def _toggle_airplane(self) -> bool:
        d = self.device
        was_on = d["airplane_mode"]
        d["airplane_mode"] = not was_on
        if was_on:
            d["network_connection_status"] = "searching"
        if not was_on or d["wifi_enabled"]:
            d["wifi_connected"], d["wifi_ssid"], d["wifi_signal_strength"] = False, None, "none"
        if not was_on and d["vpn_connected"]:
            self._disconnect_vpn()
        self.simulate_network_search()
        return d["airplane_mode"]

    def _flip(self, key: str, search: bool) -> bool:
        self.device[key] = not self.device[key]
        if search:
            self.simulate_network_search()
        return self.device[key]

    def _disconnect_vpn(self) -> bool:
        if not self.device["vpn_connected"]:
            return False
        self.device["vpn_connected"], self.device["vpn_details"] = False, None
        return True

    def _app_status(self, app_name: str) -> dict:
        app = self.device["app_statuses"].get(app_name)
        if app is None:
            raise ToolError(f"app '{app_name}' not found on this phone")
        return app

    def _granted(self, app_name: str) -> list[str] | None:
        """The permissions an app holds; None (strict_upstream) for an app not on the phone,
        which tau2-bench answers with a text rather than an error."""
        if self.strict_upstream and app_name not in self.device["app_statuses"]:
            return None
        return [p for p, on in self._app_status(app_name)["permissions"].items() if on]

    def _checked(self, spec, arguments):
        # tau2-bench types ``mode`` as ``NetworkModePreference | str``: any string reaches the
        # tool, which answers one outside the options (set_network_mode_preference)
        if self.strict_upstream and spec.name == "set_network_mode_preference":
            spec = dataclasses.replace(spec, params={"mode": s_str()})
        return super()._checked(spec, arguments)

    # -- tools --------------------------------------------------------------------------------------

    @tool(
        "read",
        (
            "Shows what icons are currently visible in your phone's status bar (the area "
            "at the top of the screen). Displays network signal strength, mobile data "
            "status (enabled, disabled, data saver), Wi-Fi status, and battery level."
        ),
    )
    def check_status_bar(self) -> str:
        return self.status_bar()

    @tool(
        "read",
        (
            "Checks your phone's connection status to cellular networks and Wi-Fi. Shows "
            "airplane mode status, signal strength, network type, whether mobile data is "
            "enabled, and whether data roaming is enabled."
        ),
    )
    def check_network_status(self) -> str:
        d = self.device
        yes = {True: "Yes", False: "No"}
        lines = [
            f"Airplane Mode: {'ON' if d['airplane_mode'] else 'OFF'}",
            f"SIM Card Status: {self.sim_status()}",
            f"Cellular Connection: {d['network_connection_status']}",
            f"Cellular Signal: {d['network_signal_strength']}",
            f"Cellular Network Type: {d['network_technology_connected']}",
            f"Mobile Data Enabled: {yes[d['data_enabled']]}",
            f"Data Roaming Enabled: {yes[d['roaming_enabled']]}",
            f"Wi-Fi Radio: {'ON' if d['wifi_enabled'] else 'OFF'}",
            f"Wi-Fi Connected: {yes[d['wifi_connected']]}",
        ]
        if d["wifi_connected"]:
            lines.append(f"Connected Wi-Fi Network: {d['wifi_ssid']}")
        return "\n".join(lines)

    @tool("read", "Shows the current network mode preference.")
    def check_network_mode_preference(self) -> str:
        return f"Network Mode Preference: {self.device['network_mode_preference']}"

    @tool(
        "write",
        (
            "Changes the type of cellular network your phone prefers to connect to (e.g., "
            "5G, LTE/4G, 3G). Higher-speed networks (LTE/5G) provide faster data but may "
            "use more battery."
        ),
        mode=s_str(enum=MODES),  # tau2-bench documents no argument here
    )
    def set_network_mode_preference(self, mode: str) -> str:
        if mode not in MODES:  # reached only under strict_upstream (_checked)
            return self._with_bar(
                f"Failed to set network mode: '{mode}' is not a valid option. "
                f"Please use one of: {', '.join(MODES)}"
            )
        self.device["network_mode_preference"] = mode
        self.simulate_network_search()
        return self._with_bar(f"Preferred Network Mode set to: {mode}")

    @tool(
        "read",
        (
            "Measures your current internet connection speed (download speed). Provides "
            "information about connection quality and what activities it can support."
        ),
    )
    def run_speed_test(self) -> str:
        mbps, desc = self.speed()
        if mbps is None:
            return f"Speed test failed: {desc}."
        return f"Speed Test Result: {mbps:.2f} Mbps ({desc}). {SPEED_ADVICE[desc]}"

    @tool(
        "write",
        (
            "Toggles Airplane Mode ON or OFF. When ON, it disconnects all wireless "
            "communications including cellular, Wi-Fi, and Bluetooth.\n\nReturns the new "
            "state of airplane_mode."
        ),
    )
    def toggle_airplane_mode(self) -> str:
        on = self._toggle_airplane()
        return self._with_bar(f"Airplane Mode is now {'ON' if on else 'OFF'}.")

    @tool(
        "read",
        (
            "Checks if your SIM card is working correctly and displays its current status. "
            "Shows if the SIM is active, missing, or locked with a PIN or PUK code."
        ),
    )
    def check_sim_status(self) -> str:
        return {
            "active": "Your SIM card is active and working.",
            "missing": "No SIM card detected in the phone.",
            "locked_pin": "The SIM card is locked with a PIN code.",
            "locked_puk": "The SIM card is locked with a PUK code.",
        }.get(self.sim_status(), f"Unknown SIM status: {self.sim_status()}")

    @tool(
        "write",
        (
            "Simulates removing and reinserting your SIM card. This can help resolve "
            "recognition issues."
        ),
    )
    def reseat_sim_card(self) -> str:
        self.device["sim_card_missing"] = False
        self.simulate_network_search()
        return self._with_bar("SIM card re-seated successfully.")

    @tool(
        "write",
        (
            "Toggles your phone's mobile data connection ON or OFF. Controls whether your "
            "phone can use cellular data for internet access when Wi-Fi is "
            "unavailable.\n\nReturns the new data connection status."
        ),
    )
    def toggle_data(self) -> str:
        on = self._flip("data_enabled", search=True)
        return self._with_bar(f"Mobile Data is now {'ON' if on else 'OFF'}.")

    @tool(
        "write",
        (
            "Toggles Data Roaming ON or OFF. When ON, your phone can use data networks in "
            "areas outside your carrier's coverage.\n\nReturns the new data roaming status."
        ),
    )
    def toggle_roaming(self) -> str:
        on = self._flip("roaming_enabled", search=True)
        return self._with_bar(f"Data Roaming is now {'ON' if on else 'OFF'}.")

    @tool(
        "read",
        (
            "Checks if your phone has any data-limiting features active. Shows if Data "
            "Saver mode is on."
        ),
    )
    def check_data_restriction_status(self) -> str:
        on = self.device["data_saver_mode"]
        return "Data Saver mode is ON (limits data usage)." if on else "Data Saver mode is OFF."

    @tool(
        "write",
        (
            "Toggles Data Saver mode ON or OFF. When ON, it reduces data usage, which may "
            "affect data speed.\n\nReturns the new data saver mode status."
        ),
    )
    def toggle_data_saver_mode(self) -> str:
        on = self._flip("data_saver_mode", search=False)
        return self._with_bar(f"Data Saver Mode is now {'ON' if on else 'OFF'}.")

    @tool(
        "read",
        (
            "Checks the technical APN settings your phone uses to connect to your "
            "carrier's mobile data network. Shows current APN name and MMSC URL for "
            "picture messaging."
        ),
    )
    def check_apn_settings(self) -> str:
        apn = self.device["active_apn_settings"]
        return (
            f"Current APN Name: {apn['apn_name'] or 'Not Set'}\n"
            f"MMSC URL (for picture messages): {apn['mmsc_url'] or 'Not Set'}\n"
            "(These are technical settings, usually best left unchanged.)"
        )

    @tool(
        "write",
        "Sets the APN settings for the phone.",
        apn_settings=s_obj(
            {
                # tau2-bench's APNSettings field descriptions
                "apn_name": s_str(
                    "The name identifier for the APN connection.", enum=["internet", "broken"]
                ),
                "reset_at_reboot": {
                    "type": "boolean",
                    "description": "Whether the APN settings will be reset at the next reboot.",
                },
                "mms_apn": s_str(
                    "Specific APN name used for MMS traffic, if different from general data."
                ),
                "mmsc_url": s_str(
                    "The URL of the Multimedia Messaging Service Center (MMSC). Crucial for MMS."
                ),
                "mms_proxy": s_str(
                    "The proxy server address required for MMS traffic on some networks."
                ),
                "mms_port": {
                    "type": "integer",
                    "description": "The proxy server port required for MMS traffic on some networks.",
                },
            },
            "Represents the configuration for a single Access Point Name (APN).",
            optional=(
                "apn_name",
                "reset_at_reboot",
                "mms_apn",
                "mmsc_url",
                "mms_proxy",
                "mms_port",
            ),
        ),
    )
    def set_apn_settings(self, apn_settings: dict) -> str:
        self.device["active_apn_settings"] = {**default_apn(), **apn_settings}
        self.simulate_network_search()
        return self._with_bar(
            f"APN settings set to: {self.device['active_apn_settings']['apn_name']}"
        )

    @tool("write", "Resets your APN settings to the default settings.")
    def reset_apn_settings(self) -> str:
        self.device["active_apn_settings"]["reset_at_reboot"] = True
        self.simulate_network_search()
        return self._with_bar("APN settings will reset at reboot.")

    @tool(
        "read",
        (
            "Checks your Wi-Fi connection status. Shows if Wi-Fi is turned on, which "
            "network you're connected to (if any), and the signal strength."
        ),
    )
    def check_wifi_status(self) -> str:
        d = self.device
        if not d["wifi_enabled"]:
            return "Wi-Fi is turned OFF."
        if d["wifi_connected"]:
            return f"Wi-Fi is ON and connected to '{d['wifi_ssid']}'. Signal strength: {d['wifi_signal_strength']}."
        return "Wi-Fi is ON but not connected to any network."

    @tool(
        "write",
        (
            "Toggles your phone's Wi-Fi radio ON or OFF. Controls whether your phone can "
            "discover and connect to wireless networks for internet access.\n\nReturns the "
            "new Wi-Fi status."
        ),
    )
    def toggle_wifi(self) -> str:
        d = self.device
        if d["airplane_mode"]:
            return self._with_bar("Cannot change Wi-Fi settings while Airplane Mode is ON.")
        d["wifi_enabled"] = not d["wifi_enabled"]
        if not d["wifi_enabled"]:
            d["wifi_connected"], d["wifi_ssid"], d["wifi_signal_strength"] = False, None, "none"
        return self._with_bar(f"Wi-Fi is now {'ON' if d['wifi_enabled'] else 'OFF'}.")

    @tool(
        "read",
        (
            "Checks if Wi-Fi Calling is enabled on your device. This feature allows you to "
            "make and receive calls over a Wi-Fi network instead of using the cellular "
            "network."
        ),
    )
    def check_wifi_calling_status(self) -> str:
        return f"Wi-Fi Calling is currently turned {'ON' if self.device['wifi_calling_enabled'] else 'OFF'}."

    @tool(
        "write",
        (
            "Toggles Wi-Fi Calling ON or OFF. This feature allows you to make and receive "
            "calls over Wi-Fi instead of the cellular network, which can help in areas "
            "with weak cellular signal.\n\nReturns the new Wi-Fi Calling status."
        ),
    )
    def toggle_wifi_calling(self) -> str:
        on = self._flip("wifi_calling_enabled", search=False)
        return self._with_bar(f"Wi-Fi Calling is now {'ON' if on else 'OFF'}.")

    @tool(
        "read",
        (
            "Checks if you're using a VPN (Virtual Private Network) connection. Shows if a "
            "VPN is active, connected, and displays any available connection details."
        ),
    )
    def check_vpn_status(self) -> str:
        d = self.device
        if d["vpn_connected"]:
            details = d["vpn_details"]
            if self.strict_upstream and details:  # a dumped pydantic model, its enum unconverted
                details = vpn_repr(details)
            return f"VPN is ON and connected. Details: {details}"
        if d["vpn_enabled_setting"]:
            return "VPN is turned ON in settings, but currently not connected."
        return "VPN is turned OFF."

    @tool("write", "Connects to your VPN (Virtual Private Network).")
    def connect_vpn(self) -> str:
        d = self.device
        if d["vpn_connected"]:
            return "VPN already connected."
        d["vpn_connected"], d["vpn_details"] = True, dict(self.vpn_default)
        return self._with_bar("VPN connected successfully.")

    @tool(
        "write",
        (
            "Disconnects any active VPN (Virtual Private Network) connection. Stops "
            "routing your internet traffic through a VPN server, which might affect "
            "connection speed or access to content."
        ),
    )
    def disconnect_vpn(self) -> str:
        done = self._disconnect_vpn()
        text = (
            "VPN disconnected successfully." if done else "No active VPN connection to disconnect."
        )
        return self._with_bar(text)

    @tool("read", "Returns the name of all installed apps on the phone.")
    def check_installed_apps(self) -> str:
        return "The following apps are installed on the phone: " + ", ".join(
            self.device["app_statuses"]
        )

    @tool(
        "read",
        (
            "Checks detailed information about a specific app. Shows its permissions and "
            "background data usage settings."
        ),
        app_name=s_str(),  # undocumented in tau2-bench
    )
    def check_app_status(self, app_name: str) -> str:
        granted = self._granted(app_name)
        if granted is None:
            return f"App '{app_name}' not found on this phone."
        if not granted:
            return f"Status for App: {app_name}\n - Permissions: None granted."
        return f"Status for App: {app_name}\n - Permissions Granted:" + "".join(
            f"\n   - {p}" for p in granted
        )

    @tool(
        "read",
        (
            "Checks what permissions a specific app currently has. Shows if the app has "
            "access to features like storage, camera, location, etc."
        ),
        app_name=s_str(),  # undocumented in tau2-bench
    )
    def check_app_permissions(self, app_name: str) -> str:
        granted = self._granted(app_name)
        if granted is None:
            return f"App '{app_name}' not found on this phone."
        if not granted:
            return f"App '{app_name}' currently has no permissions granted."
        return f"App '{app_name}' has permission for: {', '.join(granted)}."

    @tool(
        "write",
        (
            "Gives a specific permission to an app (like access to storage, camera, or "
            "location). Required for some app functions to work properly."
        ),
        app_name=s_str("The name of the app to grant the permission to."),
        permission=s_str("The permission to grant, should be lowercase."),
    )
    def grant_app_permission(self, app_name: str, permission: str) -> str:
        permission = permission.lower()
        app = self.device["app_statuses"].get(app_name)
        if app is None:
            message = f"App '{app_name}' not found. Cannot grant permission."
        elif permission not in app["permissions"]:
            message = (
                f"Permission '{permission}' not tracked for app '{app_name}', "
                f"available permissions: {list(app['permissions'])}"
            )
        else:
            app["permissions"][permission] = True
            text = f"Permission '{permission}' granted to app '{app_name}'."
            return self._with_bar(f"Success. {text}")
        if not self.strict_upstream:  # the project's rule: a call that does nothing is an error
            raise ToolError(message)
        return self._with_bar(f"Error. {message}")

    @tool("read", "Checks if the default messaging app can send MMS messages.")
    def can_send_mms(self) -> str:
        ok = self.mms_working()
        return f"Your messaging app {'can' if ok else 'cannot'} send MMS messages."

    @tool(
        "write",
        (
            "Restarts your phone completely. This can help resolve many temporary software "
            "glitches by refreshing all running services and connections."
        ),
    )
    def reboot_device(self) -> str:
        d, lines = self.device, []
        if d["active_apn_settings"]["reset_at_reboot"]:
            lines.append("Resetting APN settings...")
            d["active_apn_settings"] = default_apn()
        lines.append("Restarting network services...")
        d["network_connection_status"] = "searching"
        self.simulate_network_search()
        return self._with_bar("\n".join(lines))

    @tool("read", "Checks if the agent has sent you a payment request.")
    def check_payment_request(self) -> str:
        request = self.around["payment_request"]
        if request is None:
            return "No payment request has been made."
        return f"You have a payment request for bill {request['bill_id']} of {request['amount_due']} USD."

    @tool("write", "Makes a payment for the bill that the agent has sent you.")
    def make_payment(self) -> str:
        request = self.around["payment_request"]
        if request is None:
            return "You do not have a payment request."
        request["paid"] = True
        return (
            f"Payment of {request['amount_due']} USD has been made for bill {request['bill_id']}."
        )

    # -- scenario set-up ----------------------------------------------------------------------------

    def set_user_info(self, name: str, phone_number: str) -> None:
        self.around["name"], self.around["phone_number"] = name, phone_number

    def set_user_location(self, abroad: bool) -> None:
        self.around["is_abroad"] = abroad

    def turn_airplane_mode_on(self) -> None:
        if not self._toggle_airplane():
            self._toggle_airplane()

    def turn_airplane_mode_off(self) -> None:
        if self._toggle_airplane():
            self._toggle_airplane()

    def turn_data_on(self) -> None:
        self.device["data_enabled"] = True

    def turn_data_off(self) -> None:
        if self._flip("data_enabled", search=True):
            self._flip("data_enabled", search=True)

    def turn_roaming_on(self) -> None:
        if not self._flip("roaming_enabled", search=True):
            self._flip("roaming_enabled", search=True)

    def turn_roaming_off(self) -> None:
        if self._flip("roaming_enabled", search=True):
            self._flip("roaming_enabled", search=True)

    def turn_data_saver_mode_on(self) -> None:
        self.device["data_saver_mode"] = True

    def turn_data_saver_mode_off(self) -> None:
        self.device["data_saver_mode"] = False

    def unseat_sim_card(self) -> None:
        self.device["sim_card_missing"] = True
        self.simulate_network_search()

    def lock_sim_card(self, mode: str) -> None:
        if mode not in ("pin", "puk"):
            raise ToolError(f"lock mode must be 'pin' or 'puk', got {mode!r}")
        self.device["sim_card_status"] = f"locked_{mode}"
        self.simulate_network_search()

    def break_apn_settings(self) -> None:
        self.device["active_apn_settings"]["apn_name"] = "broken"
        self.simulate_network_search()

    def break_apn_mms_setting(self) -> None:
        self.device["active_apn_settings"]["mmsc_url"] = None

    def break_vpn(self) -> None:
        self.connect_vpn()
        self.device["vpn_details"]["server_performance"] = "poor"
        if self.strict_upstream:  # upstream degrades the shared default object itself
            self.vpn_default["server_performance"] = "poor"

    def remove_app_permission(self, app_name: str, permission: str) -> None:
        app = self._app_status(app_name)
        if permission.lower() not in app["permissions"]:
            raise ToolError(f"permission '{permission}' not tracked for app '{app_name}'")
        app["permissions"][permission.lower()] = False

    def set_wifi_calling(self, enabled: bool, mms_over_wifi: bool | None = None) -> None:
        self.device["wifi_calling_enabled"] = enabled
        if mms_over_wifi is not None:
            self.device["wifi_calling_mms_over_wifi"] = mms_over_wifi

    # -- assertions on the final state --------------------------------------------------------------

    def assert_airplane_mode_status(self, expected_status: bool) -> bool:
        return self.device["airplane_mode"] == expected_status

    def assert_service_status(self, expected_status: str) -> bool:
        return self.device["network_connection_status"] == expected_status

    def assert_mobile_data_status(self, expected_status: bool) -> bool:
        return self.mobile_data_working() == expected_status

    def assert_mobile_roaming_status(self, expected_status: bool) -> bool:
        return self.device["roaming_enabled"] == expected_status

    def assert_mobile_data_saver_mode_status(self, expected_status: bool) -> bool:
        return self.device["data_saver_mode"] == expected_status

    def assert_internet_speed(
        self, expected_speed: float, expected_desc: str | None = None
    ) -> bool:
        mbps, desc = self.speed()
        ok = (mbps or 0.0) >= expected_speed
        return ok if expected_desc is None else ok and desc.lower() == expected_desc.lower()

    def assert_internet_not_excellent(self) -> bool:
        return self.speed()[1].lower() != "excellent"

    def assert_can_send_mms(self, expected_status: bool) -> bool:
        return self.mms_working() == expected_status

    def assert_mobile_data_usage_exceeded(self, expected_status: bool) -> bool:
        return self.around["mobile_data_usage_exceeded"] == expected_status


def sync_phone(agent: Any, phone: PhoneTools) -> None:
    """Carry the account side onto the phone (line status, roaming permission, data left,
    payment requests) and a payment made on the phone back onto the bill."""
    number = phone.around["phone_number"]
    if number is None:
        return
    line = agent.line_by_phone(number)
    phone.around["line_active"] = line["status"] == "Active"
    phone.around["roaming_allowed"] = bool(line["roaming_enabled"])
    plan = agent.plans[line["plan_id"]]
    limit = plan["data_limit_gb"] + line["data_refueling_gb"]
    phone.around["mobile_data_usage_exceeded"] = line["data_used_gb"] >= limit
    request = phone.around["payment_request"]
    if request is not None and request["paid"]:
        agent.set_bill_paid(request["bill_id"])
        phone.around["payment_request"] = request = None
    if request is None:
        bills = agent.bills_awaiting_payment(agent.get_customer_by_phone(number))
        if bills:
            phone.around["payment_request"] = {
                "bill_id": bills[0]["bill_id"],
                "amount_due": bills[0]["total_due"],
                "paid": False,
            }
