package admin

// Console strings, Chinese (the default, as the seed) and English.
var consoleText = map[string]map[string]string{
	"zh": {
		"app": "Tensorgate 网关", "nav.overview": "概览", "nav.keys": "API密钥", "nav.cluster": "集群",
		"nav.password": "修改密码", "nav.login": "登录", "logout": "退出", "lang.other": "English",
		"login.email": "邮箱", "login.password": "密码", "login.submit": "登录",
		"login.wrong": "邮箱或密码错误", "login.locked": "登录失败次数过多，请稍后再试",
		"err.csrf": "表单已过期，请刷新页面后重试", "err.forbidden": "没有执行此操作的权限",
		"pw.current": "当前密码", "pw.new": "新密码（至少 10 个字符）", "pw.submit": "修改密码",
		"pw.must": "您仍在使用初始密码，请先修改密码。", "pw.done": "密码已修改",
		"ov.requests": "请求数（24 小时）", "ov.errors": "错误", "ov.tokens": "Tokens", "ov.cost": "费用",
		"ov.bycap": "按能力", "ov.capability": "能力", "ov.series": "每小时请求数", "ov.cluster": "集群状态",
		"ov.members": "节点", "ov.leader": "领导者", "ov.source": "数据来源",
		"keys.create": "创建密钥", "keys.name": "名称", "keys.org": "组织", "keys.scopes": "能力范围",
		"keys.models": "允许的模型（逗号分隔，留空为全部）", "keys.rpm": "每分钟请求数", "keys.tpm": "每分钟 Tokens",
		"keys.concurrency": "并发数", "keys.budget": "预算", "keys.period": "预算周期", "keys.expires": "过期时间",
		"keys.prefix": "前缀", "keys.status": "状态", "keys.created": "创建时间", "keys.actions": "操作",
		"keys.active": "启用", "keys.disabled": "已停用", "keys.revoked": "已吊销", "keys.expired": "已过期",
		"keys.disable": "停用", "keys.enable": "启用", "keys.revoke": "吊销", "keys.confirm": "确定吊销此密钥？此操作不可撤销。",
		"keys.secret": "请立即复制新密钥，它不会再次显示：", "keys.copy": "复制", "keys.limits": "限额",
		"period.monthly": "每月", "period.daily": "每天", "period.total": "总计", "none": "无",
		"cl.id": "节点", "cl.role": "角色", "cl.alive": "存活", "cl.applied": "已应用索引", "cl.lag": "延迟",
		"cl.version": "版本", "cl.http": "地址", "cl.transfer": "转移领导权", "cl.remove": "移除",
		"cl.confirm.remove": "确定将此节点移出集群？", "cl.confirm.transfer": "确定转移领导权？", "yes": "是", "no": "否",
		"cap.llm": "大模型对话", "cap.image": "图像", "cap.asr": "语音识别", "cap.tts": "语音合成", "cap.ocr": "文字识别", "cap.vision-segment": "视觉分割",
		"pv.title": "配置", "pv.name": "供应商名称", "pv.slug": "供应商标识", "pv.format": "API 格式", "pv.base": "站点地址", "pv.path": "API 路径",
		"pv.key": "API 密钥", "pv.key.keep": "留空则保持不变", "pv.key.clear": "清除已存密钥", "pv.models": "模型列表",
		"pv.add": "添加供应商", "pv.edit": "编辑", "pv.save": "保存", "pv.test": "测试连接", "pv.test.ok": "连接成功", "pv.test.fail": "连接失败",
		"pv.own": "切换到自有密钥", "pv.own.hint": "留空则改回系统密钥",
		"nav.routing": "路由与策略", "rt.routes": "路由", "rt.strategy": "策略", "rt.targets": "目标", "rt.targets.hint": "目标（每行 供应商:模型:权重）",
		"rt.prices": "价格（每百万 tokens / 每张 / 每秒 / 每页 / 每万字符）", "rt.currency": "币种", "rt.policy": "组织策略", "rt.route.default": "按路由",
		"rt.allowed": "可用供应商（逗号分隔，留空为全部）", "rt.overflow": "溢出", "rt.pool": "溢出池", "rt.partition": "分区时", "rt.webhook": "告警 Webhook",
		"rt.secret": "签名密钥", "rt.ownkeys": "使用自有密钥的供应商",
		"nav.usage": "用量", "nav.audit": "审计", "nav.audit_event": "审计详情", "nav.orgs": "组织与成员",
		"org.create": "新建组织", "org.name": "组织名称", "org.tz": "时区", "org.role": "角色", "org.member.name": "姓名",
		"org.member.add": "添加成员", "role.super_admin": "超级管理员", "role.org_admin": "组织管理员", "role.member": "只读成员",
		"us.key": "密钥 ID", "us.model": "模型", "us.from": "开始", "us.to": "结束", "us.bucket": "粒度", "us.day": "按天", "us.hour": "按小时",
		"us.group": "分组", "us.apply": "查询", "us.csv": "导出 CSV", "us.units": "用量",
		"us.g.model": "模型", "us.g.key": "密钥", "us.g.capability": "能力", "us.g.provider": "供应商", "us.g.org": "组织",
		"au.request": "请求 ID", "au.time": "时间", "au.provider": "供应商", "au.latency": "延迟", "au.more": "更早的记录",
		"au.chain": "故障转移链", "au.result": "结果", "au.error": "错误", "au.duration": "耗时", "au.ttfb": "首字节",
		"au.request.body": "请求内容", "au.response.body": "响应内容", "au.ownkey": "组织自有密钥", "au.estimated": "估算",
	},
	"en": {
		"app": "Tensorgate gateway", "nav.overview": "Overview", "nav.keys": "API keys", "nav.cluster": "Cluster",
		"nav.password": "Change password", "nav.login": "Sign in", "logout": "Sign out", "lang.other": "中文",
		"login.email": "Email", "login.password": "Password", "login.submit": "Sign in",
		"login.wrong": "Wrong email or password", "login.locked": "Too many failed sign-ins; try again later",
		"err.csrf": "This form expired; reload the page and try again", "err.forbidden": "You may not do this",
		"pw.current": "Current password", "pw.new": "New password (10 characters or more)", "pw.submit": "Change password",
		"pw.must": "You are still on the initial password: change it first.", "pw.done": "Password changed",
		"ov.requests": "Requests (24 h)", "ov.errors": "Errors", "ov.tokens": "Tokens", "ov.cost": "Cost",
		"ov.bycap": "By capability", "ov.capability": "Capability", "ov.series": "Requests per hour", "ov.cluster": "Cluster",
		"ov.members": "Nodes", "ov.leader": "Leader", "ov.source": "Source",
		"keys.create": "Create key", "keys.name": "Name", "keys.org": "Organization", "keys.scopes": "Capabilities",
		"keys.models": "Allowed models (comma-separated; empty for all)", "keys.rpm": "Requests per minute", "keys.tpm": "Tokens per minute",
		"keys.concurrency": "Concurrency", "keys.budget": "Budget", "keys.period": "Budget period", "keys.expires": "Expires",
		"keys.prefix": "Prefix", "keys.status": "Status", "keys.created": "Created", "keys.actions": "Actions",
		"keys.active": "active", "keys.disabled": "disabled", "keys.revoked": "revoked", "keys.expired": "expired",
		"keys.disable": "Disable", "keys.enable": "Enable", "keys.revoke": "Revoke", "keys.confirm": "Revoke this key? This cannot be undone.",
		"keys.secret": "Copy the new key now; it will not be shown again:", "keys.copy": "Copy", "keys.limits": "Limits",
		"period.monthly": "monthly", "period.daily": "daily", "period.total": "total", "none": "none",
		"cl.id": "Node", "cl.role": "Role", "cl.alive": "Alive", "cl.applied": "Applied index", "cl.lag": "Lag",
		"cl.version": "Version", "cl.http": "Address", "cl.transfer": "Transfer leadership", "cl.remove": "Remove",
		"cl.confirm.remove": "Remove this node from the cluster?", "cl.confirm.transfer": "Transfer leadership?", "yes": "yes", "no": "no",
		"cap.llm": "Chat", "cap.image": "Images", "cap.asr": "Speech recognition", "cap.tts": "Speech synthesis", "cap.ocr": "OCR", "cap.vision-segment": "Segmentation",
		"pv.title": "Configuration", "pv.name": "Provider name", "pv.slug": "Provider id", "pv.format": "API format", "pv.base": "Base URL", "pv.path": "API path",
		"pv.key": "API key", "pv.key.keep": "leave empty to keep", "pv.key.clear": "clear the stored key", "pv.models": "Models",
		"pv.add": "Add provider", "pv.edit": "Edit", "pv.save": "Save", "pv.test": "Test connection", "pv.test.ok": "connected", "pv.test.fail": "failed",
		"pv.own": "Switch to own key", "pv.own.hint": "leave empty for the system key",
		"nav.routing": "Routing and policies", "rt.routes": "Routes", "rt.strategy": "Strategy", "rt.targets": "Targets", "rt.targets.hint": "Targets (one provider:model:weight per line)",
		"rt.prices": "Prices (per 1M tokens / image / second / page / 10k characters)", "rt.currency": "Currency", "rt.policy": "Org policy", "rt.route.default": "the route's",
		"rt.allowed": "Allowed providers (comma-separated; empty for all)", "rt.overflow": "Overflow", "rt.pool": "Overflow pool", "rt.partition": "When partitioned", "rt.webhook": "Alert webhook",
		"rt.secret": "Signing secret", "rt.ownkeys": "Providers on the org's own key",
		"nav.usage": "Usage", "nav.audit": "Audit", "nav.audit_event": "Audit record", "nav.orgs": "Organizations and members",
		"org.create": "New organization", "org.name": "Name", "org.tz": "Time zone", "org.role": "Role", "org.member.name": "Name",
		"org.member.add": "Add member", "role.super_admin": "Super admin", "role.org_admin": "Org admin", "role.member": "Read-only member",
		"us.key": "Key id", "us.model": "Model", "us.from": "From", "us.to": "To", "us.bucket": "Buckets", "us.day": "daily", "us.hour": "hourly",
		"us.group": "Group by", "us.apply": "Apply", "us.csv": "Export CSV", "us.units": "Usage",
		"us.g.model": "Model", "us.g.key": "Key", "us.g.capability": "Capability", "us.g.provider": "Provider", "us.g.org": "Organization",
		"au.request": "Request id", "au.time": "Time", "au.provider": "Provider", "au.latency": "Latency", "au.more": "Older records",
		"au.chain": "Failover chain", "au.result": "Result", "au.error": "Error", "au.duration": "Duration", "au.ttfb": "first byte",
		"au.request.body": "Request body", "au.response.body": "Response body", "au.ownkey": "org's own key", "au.estimated": "estimated",
	},
}

// translate looks a console string up; a missing one shows its key, so
// a gap is visible, not silent.
func translate(lang, key string) string {
	if v, ok := consoleText[lang][key]; ok {
		return v
	}
	if v, ok := consoleText["zh"][key]; ok {
		return v
	}
	return key
}
