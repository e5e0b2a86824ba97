"""Writes a wrk Lua script cycling through N distinct Twilio WhatsApp webhooks, each signed with
the official twilio SDK for BASE + PATH. Usage: gen_webhooks.py N BASE PATH TOKEN OUT"""
import sys
import urllib.parse

from twilio.request_validator import RequestValidator

n, base, path, token, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
validator = RequestValidator(token)
with open(out, "w", encoding="utf-8") as f:
    f.write("local webhooks = {\n")
    for i in range(n):
        sid = "SM%032x" % i
        customer = "+1829%07d" % (i % 5000)
        params = {
            "MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid,
            "AccountSid": "AC" + "0" * 32, "ApiVersion": "2010-04-01",
            "From": "whatsapp:" + customer, "To": "whatsapp:+14155238886", "WaId": customer[1:],
            "Body": "Hola, ¿tienen cemento gris en existencia? Pedido %d" % i,
            "NumMedia": "0", "NumSegments": "1", "ProfileName": "Cliente %d" % i, "SmsStatus": "received",
        }
        signature = validator.compute_signature(base + path, params)
        f.write("  {%r, %r},\n" % (signature, urllib.parse.urlencode(params)))
    f.write("}\nlocal i = 0\n")
    f.write("request = function()\n  i = i %% %d + 1\n  local w = webhooks[i]\n" % n)
    f.write("  return wrk.format('POST', %r, {['Content-Type'] = 'application/x-www-form-urlencoded', ['X-Twilio-Signature'] = w[1]}, w[2])\nend\n" % path)
