"""CivicGrid: grid-based community service management platform (网格化服务管理信息系统)."""

__version__ = "0.1.0"
