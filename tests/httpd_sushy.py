#!/usr/bin/python3
"""httpd_sushy.py URL USER PASSWORD [CAFILE] — a short python3-sushy client
against redfishfs's HTTP server (run by tests/test_httpd.c): open the root
with a session, list chassis and managers, read an outlet through the
connector, and the strip's watts through chassis.power (the deprecated Power
resource: one PowerControl per outlet, equal to the outlets' PowerWatts; the
test fixes the simulator's meters, so they hold still). Exit 0 on success. Over HTTPS the server's certificate is
verified against CAFILE (the test's self-signed certificate)."""
import os
import sys

import sushy


def main():
    url, user, password = sys.argv[1:4]
    verify = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] else True
    if verify is not True:
        # requests lets these override a session's verify; point them at CAFILE.
        os.environ['REQUESTS_CA_BUNDLE'] = verify
        os.environ.pop('CURL_CA_BUNDLE', None)
    root = sushy.Sushy(url + '/redfish/v1', username=user, password=password, verify=verify)
    chassis = [c.identity for c in root.get_chassis_collection().get_members()]
    managers = [m.identity for m in root.get_manager_collection().get_members()]
    print('chassis:', chassis)
    print('managers:', managers)
    assert 'PowerStrip' in chassis, chassis
    assert 'PowerStrip' in managers and 'redfishfs' in managers, managers
    outlet = root._conn.get(
        '/redfish/v1/PowerEquipment/RackPDUs/PowerStrip/Outlets/1').json()
    assert outlet['PowerState'] in ('On', 'Off'), outlet
    # sushy 4.3's Power model has no power_control field: its JSON has them.
    power = root.get_chassis('/redfish/v1/Chassis/PowerStrip').power
    watts = [c['PowerConsumedWatts'] for c in power.json['PowerControl']]
    readings = [root._conn.get(
        '/redfish/v1/PowerEquipment/RackPDUs/PowerStrip/Outlets/%d' % n).json()
        ['PowerWatts']['Reading'] for n in range(1, 7)]
    print('chassis.power watts:', watts)
    assert watts == readings, (watts, readings)
    assert any(w > 0 for w in watts), watts
    sessions = root.get_session_service().sessions.get_members()
    assert len(sessions) >= 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
