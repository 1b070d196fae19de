"""The loopback benchmark's reference: a minimal python-telegram-bot bot that deletes exact "收到" replies.

One deleteMessage call per ack, nothing stored, PTB's defaults throughout (polling, one update at
a time, its default timeouts and allowed updates); only the token and the Bot API address are
given. It is what the simplest possible ack remover costs, so Jianfu's figures are read against it.

Run: python tests/perf/minimal_bot.py --token TOKEN --base-url http://127.0.0.1:PORT
"""

from __future__ import annotations

import argparse
import logging

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

ACK = "收到"


async def delete_ack(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The reply is exactly "收到": delete it."""
    await update.effective_message.delete()


def build(token: str, base_url: str) -> Application:
    """PTB's defaults, pointed at `base_url`."""
    app = Application.builder().token(token).base_url(f"{base_url.rstrip('/')}/bot").build()
    app.add_handler(MessageHandler(filters.REPLY & filters.Text([ACK]), delete_ack))
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--token", required=True)
    parser.add_argument("--base-url", required=True, help="the Bot API server, e.g. http://127.0.0.1:8081")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    build(args.token, args.base_url).run_polling()


if __name__ == "__main__":
    main()
