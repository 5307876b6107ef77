"""Exchange adapters (pure: no Django). One protocol (``base.Exchange``), our error hierarchy
(``errors``), the built-in paper exchange (``paper``) and the ccxt adapter (``ccxt_exchange``, the only
module that imports ccxt)."""
