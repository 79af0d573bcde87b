"""Phrase pools for *genuine* complaints, written in the grammar of ``grammar.py``.

Why so many pools: a template detector is only tested honestly if organic
traffic is genuinely diverse -- real customers describe the same problem in
many ways -- while still sharing the vocabulary of the domain (信用卡, 催收,
罚息 ...). Each pool is a list of markup strings; every ``[[a|b]]`` site and
every slot multiplies the variety, so thousands of organic letters rarely share
more than a clause. The one deliberate exception is ``GENERIC_HOTLINE``: agents'
boilerplate summaries that really are identical across unrelated callers.
"""
from __future__ import annotations

__all__ = [
    "PRODUCTS_BANK", "PRODUCTS_CFC", "PRODUCTS_EN", "FEES", "REASONS",
    "HOTLINE_PREFIX", "HOTLINE_WHEN", "HOTLINE_ISSUE", "HOTLINE_TAIL", "GENERIC_HOTLINE",
    "LETTER_OPEN", "LETTER_INTRO", "LETTER_PROBLEM", "LETTER_FEEL", "LETTER_DEMAND", "LETTER_CLOSE",
    "SOCIAL_TAIL", "ENGLISH", "DEMANDS_BY_CATEGORY",
]

PRODUCTS_BANK = ("信用卡", "消费贷", "房贷", "车贷", "信用贷", "装修贷", "经营贷", "现金分期", "账单分期", "借记卡")
PRODUCTS_CFC = ("消费贷", "现金贷", "分期借款", "信用贷", "购物分期", "循环额度借款")
PRODUCTS_EN = ("credit card", "consumer loan", "mortgage", "car loan", "personal loan")
FEES = ("年费", "分期手续费", "违约金", "超限费", "账户管理费", "罚息", "滞纳金", "服务费", "提前还款违约金")
REASONS = ("生病住院", "失业", "生意失败", "收入下降", "家人患病", "公司停薪", "工厂停工", "离婚", "车祸受伤")

# --------------------------------------------------------------------------- hotline
HOTLINE_PREFIX = (
    "客户来电反映", "客户来电称", "客户致电反映", "来电人称", "客户反映", "客户来电投诉", "客户来电表示",
    "客户致电客服称", "来电客户反映", "客户来电诉求：", "客户来电，称", "持卡人来电反映", "客户本人来电称",
)
HOTLINE_WHEN = ("", "", "", "近期", "近日", "本月", "上周", "昨天", "{date_short}", "这几天", "最近一个月", "今天上午")

HOTLINE_ISSUE: dict[str, tuple[str, ...]] = {
    "collection": (
        "{product}逾期后催收人员[[频繁|多次|反复|一天几十次]]来电[[催款|催收|骚扰]]",
        "催收人员[[联系其|打电话给其|骚扰其]][[家人|父母|同事|单位领导|朋友|紧急联系人]]，[[泄露|透露]]其欠款情况",
        "[[夜间|晚上十点后|凌晨|午休时间]]接到[[催收|催款]]电话",
        "催收[[短信|电话]]中[[有威胁性语言|语气恶劣|称要上门|称要起诉并通知单位]]",
        "第三方催收公司[[自称律师|冒充法院工作人员|自称调解中心]]要求其[[立即还款|当天还清]]",
        "已还款但仍[[接到|收到]]催收[[电话|短信]]",
        "催收人员[[上门|到其单位|到其老家]]催收",
        "[[不认识的号码|多个陌生号码]]以{product}欠款为由催收",
        "{product}逾期{n}天，催收员[[要求|逼其]][[借钱还款|找亲戚借钱|全额结清]]",
        "[[家人|父亲|妻子]]接到{product}催收电话[[受到惊吓|非常不满]]",
    ),
    "interest_fees": (
        "{product}[[年费|账户管理费|分期手续费|违约金|超限费|提前还款违约金]][[收取不合理|未提前告知|金额过高|被重复收取]]",
        "对{product}[[利息|罚息|复利]]计算[[有异议|不认可|不理解]]",
        "账单金额与[[实际消费|预期|还款计划]]不符，[[多出|差了]]{small}元",
        "办理{product}时[[业务员|客户经理|工作人员]]承诺[[免息|零手续费|利率很低]]，实际[[被收取|产生]]了[[手续费|利息|服务费]]",
        "[[提前还款|结清]]{product}[[被要求支付|产生了]]{small}元[[违约金|手续费]]",
        "{product}[[捆绑销售|被搭售]][[保险|会员服务|增值服务]]，要求退还",
        "最低还款后[[被收取|产生]]全额罚息",
        "[[晚还一天|宽限期内还款]]仍被收取{small}元[[违约金|罚息]]",
    ),
    "credit_report": (
        "[[征信报告|个人征信]]上显示{product}[[逾期|有逾期记录]]，其称[[已按时还款|从未办理过该业务|系扣款失败导致]]",
        "申请房贷时发现征信[[有一笔|出现]]{product}逾期，要求[[核实|更正|出具非恶意逾期证明]]",
        "[[征信查询记录过多|多次被查询征信]]，[[不知情|未经其授权]]",
        "[[已提交|提交了]]征信异议申请，[[至今未回复|处理超时|对结果不认可]]",
        "{product}已结清但征信[[未更新|仍显示欠款]]",
    ),
    "hardship_relief": (
        "因[[失业|生病住院|生意失败|收入下降|家人患病|公司停薪]]暂时无法还款，[[申请|希望办理|咨询]][[延期还款|个性化分期|降低月供|停息分期]]",
        "[[咨询|询问]]{product}[[个性化分期|延期还款|协商还款]][[政策|条件|所需材料]]",
        "[[已申请|申请了]]{product}[[延期|分期]]被[[拒绝|驳回]]，[[对结果有异议|要求重新审核]]",
        "[[每月|目前]]只能还{small}元，[[希望|要求]]调整{product}还款计划",
    ),
    "service": (
        "[[手机银行|APP|网银]][[登录|转账|还款|查询]][[失败|异常|一直报错|卡顿]]",
        "[[网点|支行]][[排队时间长|柜员态度差|业务办理效率低|叫号混乱|拒绝办理业务]]",
        "客服热线[[长时间无人接听|转人工困难|一直占线|重复转接]]",
        "[[银行卡|账户]][[被冻结|被限制非柜面交易|被降额]]，[[未收到通知|影响正常使用]]",
        "[[收不到|没有收到]][[短信验证码|动账通知|电子账单]]",
        "{product}[[自动扣款|还款]]未成功，[[导致|造成]][[逾期|扣了罚息]]",
        "[[信用卡额度|额度]]被[[无故降低|突然调整]]",
        "[[销户|注销信用卡|解绑银行卡]]办理[[困难|被推诿|需要多次跑网点]]",
        "[[新卡|补办的卡|实体卡]][[迟迟未寄到|寄错地址|激活失败]]",
    ),
    "fraud": (
        "[[账户|信用卡]][[被盗刷|出现不明交易]]{small}元，[[要求|申请]][[追回|调查|拒付]]",
        "[[接到|收到]]冒充[[银行客服|贷款平台|征信中心]]的[[诈骗电话|诈骗短信]]，[[担心信息泄露|询问是否本行人员]]",
        "[[被他人冒名|身份证被冒用]]办理{product}，[[要求|申请]][[核实|注销|消除征信记录]]",
        "[[被诱导|被骗]]下载[[不明APP|屏幕共享软件]]后[[转走|损失]]{small}元",
    ),
    "other": (
        "[[营销电话|推销短信|保险推销]]过多，要求[[停止|不再]][[拨打|发送]]",
        "[[积分兑换|礼品|权益活动]][[未到账|未兑现|规则不清]]",
        "[[咨询|询问]][[开户|大额存单|理财产品]][[流程|利率|起存金额]]",
        "[[理财产品|基金]][[亏损|收益不及预期]]，认为销售时[[未充分揭示风险|夸大收益]]",
    ),
}
HOTLINE_TAIL = (
    "", "，要求[[核实处理|尽快处理|给予答复|给个说法]]", "，[[已安抚|已解释|已致歉]][[并记录|并升级|，客户接受|，客户不认可]]",
    "，要求回电", "，情绪[[激动|较为激动|平稳]]", "，希望[[解决|尽快解决]]", "，[[已转|已提交]][[相关部门|专员]]处理",
    "，客户表示[[将向监管投诉|会再来电|不接受解释]]", "，[[已告知|已说明]]处理时限",
)
#: Boilerplate summaries agents type for routine calls -- identical across strangers.
GENERIC_HOTLINE = (
    "客户来电咨询账单", "客户来电咨询还款日", "客户来电查询额度", "客户来电咨询积分", "客户来电咨询分期",
    "客户要求回电", "咨询业务，已解答", "客户来电咨询，已解答", "客户来电查询账户余额",
)

# --------------------------------------------------------------------------- letters
LETTER_OPEN = (
    "", "", "尊敬的{inst_cn}：", "{inst_cn}[[客服中心|投诉处理部门|消费者权益保护部]]：", "尊敬的领导：",
    "[[您好|你好]]：", "致{inst_cn}：",
)
LETTER_INTRO = (
    "本人{name}，[[是|系]]贵{unit}{product}[[客户|持卡人|用户|借款人]][[，已有{years}年|，使用多年|]]。",
    "我叫{name}，{age}岁，[[在|于]]{year}年[[办理|申请|开通]]了贵{unit}的{product}。",
    "我是{city}的一名[[普通工人|教师|个体户|退休职工|外卖骑手|公司职员|护士|出租车司机|销售|程序员]]，{year}年在贵{unit}办理了{product}。",
    "[[我|本人]]在贵{unit}[[有一笔|办理过]]{product}，[[一直按时还款|之前从未逾期|还款记录良好]]。",
    "",
)
LETTER_PROBLEM: dict[str, tuple[str, ...]] = {
    "collection": (
        "自{month}月以来，[[贵{unit}|贵{unit}委托的催收公司|外包催收人员]][[几乎每天|每天十余次|不分昼夜]]拨打我的电话，[[严重影响|已经影响到]]我的[[工作|正常生活|休息]]。",
        "更让我无法接受的是，催收人员[[多次联系|打电话给|发短信给]]我的[[父母|同事|领导|朋友]]，[[把我欠款的事情告诉了他们|导致我在单位抬不起头|使我的家人非常担心]]。",
        "催收人员在电话中[[说话难听|语气恶劣|出言侮辱|威胁要上门]]，[[甚至|还]]说要[[通知我单位|去我老家|把我的信息发到网上]]。",
        "我从未拒绝还款，[[只是|只因]]{reason}，[[暂时|目前]]无法按时足额还款，[[已主动|曾多次]]联系贵{unit}协商。",
        "{date_short}晚上{hour}点多我还接到了[[催收|催款]]电话，家里老人[[被吓到了|非常害怕]]。",
        "我上个月已经还了{small}元，[[催收员|对方]]却说[[不算数|必须一次结清]]。",
    ),
    "interest_fees": (
        "{date_short}我[[查看|收到]]账单时发现，[[被收取|多了一笔]]{fee}{small}元，[[事前|办理时]]没有任何人告知我。",
        "当初[[客户经理|业务员|工作人员]]承诺[[免年费|分期零手续费|利息很低]]，[[实际|现在]]折算下来[[年化利率超过了{rate}%|手续费远高于宣传]]。",
        "我只是[[晚了一天|晚了两天|少还了几十元]]，却被[[收取|扣了]]{small}元的[[违约金|罚息|滞纳金]]，[[这明显不合理|我认为不合理|实在难以接受]]。",
        "我[[多次|反复]]致电客服要求解释[[收费标准|计息方式]]，[[得到的答复前后不一|客服只会照本宣科|一直没有明确答复]]。",
        "[[提前结清|提前还款]]时又被收了{small}元[[手续费|违约金]]，合同里[[根本没有写|写得模糊不清]]。",
    ),
    "credit_report": (
        "{date_short}我[[申请房贷|办理车贷|应聘工作]]时查询征信，发现贵{unit}报送了一笔{product}逾期记录。",
        "这笔逾期是因为[[贵{unit}系统扣款失败|换卡后自动还款未生效|短信提醒没有发出|我住院期间无法操作]]造成的，[[并非|不是]]我[[主观恶意|故意不还]]。",
        "[[征信记录|这个逾期记录]]已经[[影响到|耽误了]]我的[[房贷审批|工作|孩子上学]]，[[损失很大|压力很大]]。",
        "我于{date_short}提交了征信异议，[[至今|超过20天]]没有[[收到结果|任何回复]]。",
    ),
    "hardship_relief": (
        "[[去年|今年初|{month}月份]]我[[因病住院|失业|工厂停工|做生意亏损|父亲重病]]，收入[[大幅减少|中断|只剩下生活费]]，{product}[[出现了逾期|每月还款压力很大]]。",
        "我[[一直|始终]]有还款意愿，[[只是|但]]目前每月只能拿出{small}元左右用于还款。",
        "家里还有[[两个孩子上学|老人需要赡养|房贷要还]]，[[实在|真的]][[无力|没有能力]]一次性还清欠款。",
        "[[听说|了解到]]贵{unit}有[[困难客户帮扶|个性化分期|延期还款]]政策，[[希望|恳请]]能够[[适用|帮我办理]]。",
    ),
    "service": (
        "{date_short}我在[[手机银行|APP|网点]]办理[[转账|还款|挂失|取款]]时，[[系统一直提示错误|等了两个多小时|被告知无法办理]]。",
        "[[柜员|客服|大堂经理]][[态度冷淡|推诿扯皮|说话不耐烦]]，[[没有给出任何解决方案|让我找其他部门|直接挂断了电话]]。",
        "我的[[银行卡|账户]]在没有任何通知的情况下被[[冻结|限制交易|降额]]，[[工资都取不出来|影响了生意周转|导致房贷扣款失败]]。",
        "客服电话[[打了十几次|等了半小时]]都[[转不到人工|没人接]]。",
    ),
    "fraud": (
        "{date_short}我的{product}[[在我不知情的情况下|凌晨]][[被消费|被转走]]{small}元，[[卡一直在我身上|我没有泄露过密码]]。",
        "[[有人|对方]]冒充[[贵{unit}客服|贷款平台工作人员]]给我打电话，[[准确说出了我的姓名和欠款金额|知道我的身份证号]]，我怀疑[[个人信息被泄露|贵{unit}信息管理有漏洞]]。",
        "我[[从未|没有]]在贵{unit}办理过{product}，[[征信上却有|却收到了]]这笔贷款的[[记录|催收]]。",
    ),
    "other": (
        "贵{unit}[[几乎每天|每周多次]]给我打[[营销|推销]]电话，[[我已明确拒绝|我说了不需要]]仍然继续。",
        "我参加的[[积分活动|开卡礼|满减活动]][[奖励至今未到账|规则被单方面修改]]。",
        "客户经理推荐的[[理财产品|保险]]当初说是[[保本|稳赚]]，现在[[亏损|退保损失]]{small}元。",
    ),
}
LETTER_FEEL = (
    "", "", "[[我对此|对此我]][[非常|十分|极其]][[不满|气愤|失望|无奈]]。", "这件事让我[[身心俱疲|寝食难安|非常焦虑|压力很大]]。",
    "[[作为|我是]]贵{unit}多年的老客户，[[实在|真的]][[寒心|想不通]]。", "[[我不明白|我想问问]]贵{unit}[[为什么|凭什么]]这样对待客户？",
)
LETTER_DEMAND: dict[str, tuple[str, ...]] = {
    "collection": (
        "请贵{unit}[[规范|管理好]]催收行为，[[不要再|停止]]骚扰我的[[家人|同事|朋友]]。",
        "要求贵{unit}[[核实|调查]]催收人员的违规行为并给我一个说法。",
        "希望能[[协商|商量]]一个合理的还款方案，我会[[尽力|按能力]]还款。",
    ),
    "interest_fees": (
        "要求[[退还|返还]]不合理收取的[[费用|{fee}]]。", "请[[重新核算|说明]][[利息|费用]]的计算方式。",
        "希望贵{unit}[[减免|退回]]这笔[[违约金|罚息]]。",
    ),
    "credit_report": (
        "要求贵{unit}[[尽快|立即]][[更正|消除]]这条[[错误的|不实的]]征信记录。", "请[[出具|开具]]非恶意逾期证明。",
        "希望贵{unit}[[尽快|在规定时限内]]答复我的异议申请。",
    ),
    "hardship_relief": (
        "恳请贵{unit}[[批准|同意]]我的[[分期|延期]]申请，[[分{periods}期|延期{months}个月]]还款。",
        "希望[[适当减免|暂缓收取]]罚息，给我一个[[喘息|缓冲]]的机会。",
    ),
    "service": ("请尽快[[解除|处理]][[冻结|限制]]并[[给出|说明]]原因。", "要求[[相关人员道歉|改进服务|给予合理补偿]]。"),
    "fraud": ("要求贵{unit}[[调查|追回]]损失并[[暂停|冻结]]相关交易。", "请[[注销|核实]]冒名办理的业务并[[消除|更正]]相关记录。"),
    "other": ("请[[停止|不要再]]给我打营销电话。", "要求[[兑现|履行]]活动承诺。"),
}
LETTER_CLOSE = (
    "", "望[[早日|尽快]]处理为盼。", "请在[[十五日|七个工作日]]内给予答复。", "特此投诉。", "谢谢！",
    "[[如果|若]]得不到解决，我将向[[金融监管部门|12378|消费者协会]]反映。", "投诉人：{name}\n{date}",
)
SOCIAL_TAIL = ("", "[[太坑了|避雷|求解决|无语了]]！", "大家评评理。", "#银行投诉#", "有没有人遇到一样的情况？")

DEMANDS_BY_CATEGORY: dict[str, tuple[tuple[str, ...], ...]] = {
    "collection": (("stop_collection",), ("stop_collection", "installments"), ("other",), ("installments",)),
    "interest_fees": (("refund",), ("waive_fees",), ("refund", "compensation"), ("waive_fees", "installments")),
    "credit_report": (("credit_repair",), ("credit_repair", "other")),
    "hardship_relief": (("installments",), ("installments", "waive_fees"), ("stop_interest", "installments")),
    "service": (("other",), ("compensation",), ("refund",)),
    "fraud": (("refund",), ("other",), ("refund", "credit_repair")),
    "other": (("other",),),
}

# --------------------------------------------------------------------------- English
ENGLISH: dict[str, tuple[str, ...]] = {
    "collection": (
        "Your collection agents keep calling my [[parents|employer|colleagues|wife]] about my {product_en} debt. [[This is harassment.|It is humiliating.]] [[Please stop.|I want this to stop now.]]",
        "I get [[ten|dozens of]] collection calls a day about my {product_en}, [[even at night|even on weekends]]. I am willing to pay but need a reasonable plan.",
    ),
    "interest_fees": (
        "I was charged [[a late fee|an annual fee|an installment fee]] of {small} yuan on my {product_en} [[without any notice|even though I paid on time]]. Please refund it.",
        "The interest on my {product_en} is much higher than what the [[sales agent|branch staff]] promised. Please explain the calculation.",
    ),
    "credit_report": (
        "My credit report shows a late payment on my {product_en}, but the [[autopay|direct debit]] failed on your side. Please correct the record.",
    ),
    "hardship_relief": (
        "I lost my [[job|income]] [[last month|in January|this spring]] and cannot make the full {product_en} payments. I would like to apply for an installment plan.",
    ),
    "service": (
        "The mobile app [[keeps crashing|won't let me log in|fails at transfers]] [[since yesterday|for three days|every evening]]. [[Very frustrating.|Please fix it.|I missed a payment because of this.]]",
        "I waited [[two hours|ninety minutes]] at the branch and the staff [[were rude|could not help me]]. [[Terrible service.|Please improve.]]",
    ),
    "fraud": ("There are [[unauthorized transactions|charges I did not make]] of {small} yuan on my card. Please investigate and refund.",),
    "other": ("Please stop the marketing calls. I have asked [[twice|several times]] already.",),
}
