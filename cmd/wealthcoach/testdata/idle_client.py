# A stock websockets client, keepalive left at the library's defaults (a
# ping every 20 s, the connection failed when no pong comes within 20 s):
# it authenticates, stays quiet for the number of seconds given, then chats.
import asyncio
import json
import sys

import websockets


async def main(uri, token, idle):
    async with websockets.connect(uri) as ws:
        await ws.send(json.dumps({"type": "authenticate", "token": token}))
        if json.loads(await ws.recv())["type"] != "connected":
            sys.exit("not authenticated")
        await asyncio.sleep(idle)
        await ws.send(json.dumps({"type": "message", "content": "Still there?"}))
        while True:
            data = json.loads(await ws.recv())
            if data["type"] == "response" and data["done"]:
                print("answered after", idle, "s idle:", data["finish_reason"])
                return
            if data["type"] == "error":
                sys.exit("error: " + data["code"])


asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
