# The design note's Python test client, as written there, with two changes:
# the URI and token come from the command line, and json.parse (a typo: it
# does not exist in Python) is json.loads.
import asyncio
import sys

import websockets
import json


async def test_new_auth(uri, token):
    async with websockets.connect(uri) as ws:
        print("📡 Connected")

        # Step 1: Authenticate
        await ws.send(json.dumps({
            "type": "authenticate",
            "token": token
        }))

        # Step 2: Wait for confirmation
        response = await ws.recv()
        data = json.loads(response)

        if data['type'] == 'connected':
            print("✅ Authenticated!")

            # Step 3: Send message
            await ws.send(json.dumps({
                "type": "message",
                "content": "What is compound interest?"
            }))

            # Step 4: Receive streaming response
            while True:
                response = await ws.recv()
                data = json.loads(response)

                if data['type'] == 'response':
                    print(f"AI: {data['content']}")
                    if data['done']:
                        cached = "💾 (cached)" if data.get('cached') else "🤖 (fresh)"
                        print(f"\n{cached}")
                        break
        else:
            print("unexpected first frame:", data)
            sys.exit(1)

asyncio.run(test_new_auth(sys.argv[1], sys.argv[2]))
