"""fabric: a network fabric controller for SONiC BGP-EVPN data-center switches."""

__version__ = "0.1.0"
