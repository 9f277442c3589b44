"""The flows behind the screen table's `Flow(...)` and `Note(...)` entries, one module per concern.

Each flow is `async def name(ctx, win, event)`, typed against `controller.context.Ctx`; each keeps what it
must remember in its own typed record of `ctx.flow` (`controller.flowstate`). They follow gateway-ui.md
§2.3-§2.6 and §5.
"""
