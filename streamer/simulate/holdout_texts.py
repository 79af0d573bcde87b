"""Wording used only by the ``holdout`` profile: new letters, calls, surges.

Why a separate text module: the held-out profile exists to measure whether
detection generalises beyond the wording it was developed on. Every string
here was written fresh for it -- none of the ``campaigns.TEMPLATES`` /
``COVERT`` sentences, ``grammar.FILLERS`` or ``lexicon`` pools are reused --
and the letters have a different *structure* (titled applications with
numbered 事由 / 诉求 sections, an English hardship notice, short agent call
notes) rather than the salutation-narrative-demand shape of the tuned
profiles. Detectors must never import this module; only ``holdout.py`` and
``holdout_decoys.py`` do.

Markup is the grammar of ``grammar.py``: ``[[canonical|alt|...]]`` and
``{slot}``.
"""
from __future__ import annotations

from streamer.simulate.grammar import Sentence as S

__all__ = ["DRIP_LETTER", "BURST_LETTER", "MULTI_LETTER", "MULTI_CALL", "MULTI_REFERRAL_HEAD", "ENGLISH_LETTER",
           "REPAIR_SENTENCES", "REPAIR_FILLERS", "DRIP_CALL", "LOGIN_ZH", "LOGIN_EN", "LOGIN_CALL",
           "FEE_NOTICE", "FEE_REACTION", "FEE_CALL", "BRANCH_TEXT", "BRANCH_CALL", "SELF_HELP_TEMPLATE", "SELF_HELP_REASONS", "VILLAGE_ISSUERS",
           "HARDSHIPS", "HARDSHIPS_EN", "LOGIN_TAIL"]

# --------------------------------------------------------------------------- campaigns
#: Slow agency (反催收 / 停息挂账): a titled application with a numbered body.
DRIP_LETTER: tuple[S, ...] = (
    S("[[关于{product}债务个性化协商的申请|关于{product}欠款协商处理的申请书|个性化分期还款申请]]"),
    S("\n申请人：{name}，[[{product}账户尾号{tail}|贵{unit}{product}账户（尾号{tail}）]]，截至目前结欠{amount}元。"),
    S("\n一、基本情况：申请人[[自{month}月起|从{month}月份开始]]因{hardship}，[[月收入不足{small}元|已无固定收入来源|仅靠打零工维持生活]]，名下无房无车，无其他可供执行的财产。"),
    S("\n二、存在问题：贵{unit}在申请人[[逾期|出现逾期]]后，[[未核实申请人实际困难|未经协商]]即[[按最高标准|连续]]计收罚息、复利，目前息费已占欠款总额的[[三成以上|近一半]]。"),
    S("\n三、[[协商诉求|申请事项]]：（1）[[暂停计收|冻结]]全部利息、罚息及复利；（2）免除已产生的违约金；（3）本金按{periods}期[[等额|分期]]归还，首期自[[三个月后|下季度]]起算；（4）协商期间[[不得|请勿]]委外催收、不得[[联络|打扰]]申请人亲友及单位。"),
    S("\n四、申请人[[郑重承诺|保证]]所述情况属实，[[相关材料已随函附上|困难证明随后补交]]。", p_keep=0.6),
    S("\n[[联系人|对接人]]：{rep}（受申请人委托）  电话：{agent_phone}", p_keep=0.75),
    S("\n申请日期：{date}"),
)

#: Agent note when the same agency rings the hotline instead of writing.
DRIP_CALL = (
    "[[来电人|第三方]]{rep}[[自称受客户委托|称系客户委托代理人]]，要求对客户{product}欠款{amount}元[[停息|冻结息费]]并分{periods}期还本，"
    "[[称客户{hardship}|表示客户{hardship}]]，[[要求书面回复|要求三日内回电|拒绝提供授权书]]。"
)

#: Burst: an application one agency uploads for twenty debtors in one sitting.
BURST_LETTER: tuple[S, ...] = (
    S("【还款能力变化情况说明】"),
    S("[[本人|申请人]]{name}（{age}岁），[[于{year}年|{year}年]]在贵{unit}[[开立|办理]]{product}，现欠款{amount}元。"),
    S("[[近一年|今年以来]]{hardship}，[[家庭|个人]]收支[[严重失衡|入不敷出]]，[[客观上|实际上]]已不具备按原合同履约的能力。"),
    S("[[依据|参照]]《[[关于做好当前金融支持受困主体工作的通知|金融消费者权益保护实施办法]]》精神，特向贵{unit}提出以下协商意见："),
    S("1、[[停止|暂停]]计息并减免罚息；2、[[剩余本金|本金部分]]分{periods}期偿还；3、[[暂缓|停止]]报送不良征信；4、[[所有|一切]]沟通[[通过书面方式|以书面形式]]进行。"),
    S("[[以上请求合理合法|以上诉求于法有据]]，请贵{unit}于收到本说明后[[五个|七个]]工作日内[[书面答复|予以回复]]。"),
    S("说明人：{name}  {date}"),
)

#: Multi-channel campaign: letter body, then a hotline call, then a regulator referral.
MULTI_LETTER: tuple[S, ...] = (
    S("{inst_cn}[[债务协商部门|贷后管理部|客户权益部]]："),
    S("[[兹有|现有]]贵{unit}客户{name}，身份证后四位{tail}，[[因{hardship}|{hardship}后]]无力[[继续|按期]]偿还{product}。"),
    S("[[该客户|客户本人]]户籍所在地村委会已出具[[家庭经济困难证明|特困证明]]，[[现随函附上|附后]]，[[请予核查|敬请查收]]。"),
    S("[[为|为了]]避免[[矛盾升级|进一步纠纷]]，[[现代表客户|我方代表客户]]申请：全额减免罚息复利，本金{amount}元[[分{periods}期|按{periods}个月]]偿还，并[[出具|开具]]还款计划确认书。"),
    S("[[请勿|不要]]再直接联系客户本人，[[后续事宜|一切事宜]]请与{rep}对接，电话{agent_phone}。"),
    S("[[此致|特此申请]]\n{date}"),
)
MULTI_CALL = (
    "[[来电人|委托人]]{rep}[[代客户|替客户]]{name}[[追问|催问]]{date_short}寄出的协商函处理进度，"
    "[[称已附村委会困难证明|称客户有特困证明]]，[[要求|坚持]][[全额免息|免除罚息]]分{periods}期，[[称不同意将向监管反映|称已准备向监管投诉|语气强硬]]。"
)
MULTI_REFERRAL_HEAD = ("【监管转送件】消费者{name}经代理人反映：", "金融消费者投诉转办单（编号{tail}）：", "【12378转送】")

#: English hardship notice a debt-settlement firm files for expatriate / bilingual clients.
ENGLISH_LETTER: tuple[S, ...] = (
    S("RE: [[Formal hardship notice|Notice of financial hardship|Hardship declaration]] - {product_en} account ending {tail}"),
    S(" To the [[Customer Relations Department|Complaints Team|Collections Manager]] of {inst_en},"),
    S(" [[We act on behalf of|This firm represents|We have been appointed by]] your customer {name} regarding an outstanding balance of CNY {amount}."),
    S(" [[Our client|The customer]] has [[suffered|experienced]] {hardship_en} and is [[no longer able|currently unable]] to meet the contractual repayments."),
    S(" [[We hereby request|Accordingly we request]] that you (a) [[freeze|suspend]] all interest and default charges, (b) accept repayment of the principal in {periods} monthly instalments, and (c) [[cease|stop]] all direct contact with our client, [[their family|relatives]] and employer.", movable=True),
    S(" [[Continued|Any further]] collection calls will be [[reported|escalated]] to the National Financial Regulatory Administration.", movable=True),
    S(" Please direct all correspondence to {rep} at {agent_email} [[or|/]] {agent_phone}."),
    S(" [[Sincerely|Regards]], {firm}"),
)

#: 征信修复 operation with no shared contacts: many alternatives, movable middle, own filler set.
REPAIR_SENTENCES: tuple[S, ...] = (
    S("[[{inst_cn}征信管理部门|贵{unit}征信异议受理岗|{inst_cn}负责人]][[：|，您好：]]"),
    S("[[我|本人]][[名下|在贵{unit}的]]{product}[[在|于]]{month}月[[产生|出现|留下]]了[[一笔|一次|两期]][[不良记录|逾期记录|逾期]]。"),
    S("[[当时|那段时间]][[我|本人]][[被公司裁员|处于隔离状态|在外地住院|手机丢失没有收到还款提醒]]，[[不存在|没有]][[恶意拖欠|故意逾期]]的情况。", movable=True),
    S("[[按照|依照|根据]]《征信业管理条例》[[第二十五条|关于异议处理的规定]]，[[贵{unit}|信息提供者]][[有义务|应当]][[核查|更正]][[错误|不准确]]信息。", movable=True),
    S("[[贵{unit}|你们]][[在报送前|报送征信之前]][[没有|未]][[提前|依法]][[通知|告知]][[我|本人]]，[[程序上|做法上]][[存在瑕疵|不合规]]。", movable=True, p_keep=0.7),
    S("[[请|恳请|特申请]][[贵{unit}|你们]][[向征信中心|向人行征信系统]][[申请|提交]][[删除|修正|撤销]]该[[条|笔]][[记录|逾期信息]]，[[同时|并]][[退回|减免]][[相关|逾期]][[费用|罚息]]。"),
    S("[[若|如果]][[十日内|两周内]][[未见|没有]][[处理结果|回复]]，[[我|本人]]将[[向人民银行分支机构|向征信中心|向金融监管部门]][[申诉|提起异议|反映]]。", p_keep=0.8),
)
REPAIR_FILLERS = ("讲真，", "麻烦认真看一下，", "补充一点，", "再说一遍，", "不瞒您说，", "拜托了，", "重点是，")

#: Hardship stories (agency side, reused across an agency's own debtors).
HARDSHIPS = ("工地停工半年没有收入", "确诊糖尿病并发症需长期用药", "妻子生育后全职在家带孩子", "经营的奶茶店闭店亏损",
             "父亲脑出血需要长期护理", "被公司拖欠工资至今未发", "网约车被平台封号失去收入", "腰椎间盘突出无法从事体力劳动")
HARDSHIPS_EN = ("a prolonged medical condition", "the loss of employment", "the closure of a family business",
                "a serious accident", "unpaid wages for several months")
#: Issuers of village hardship certificates (new; not ``hard._ISSUERS``).
VILLAGE_ISSUERS = (("某乡某某村村民委员会", "某某村村民委员会（章）"), ("某镇社会事务办公室", "某镇社会事务办公室专用章"))

# --------------------------------------------------------------------------- genuine surges
#: Login outage: very short and very similar -- real people type the same few words.
LOGIN_ZH = (
    "app登录不了", "APP登录不了", "登录不了", "app登不上", "手机银行登录不了", "登不上去了", "app打不开",
    "登录一直转圈", "登录提示网络异常", "app登录不了怎么回事", "为什么登录不了", "一直登录失败", "app又登不上了",
    "登录不上，还不了款", "APP进不去", "登陆不了", "app崩了吗", "闪退，登不上",
)
LOGIN_EN = ("cannot log in", "can't log in to the app", "app not working", "login failed", "app down?",
            "cannot login", "the app keeps saying network error")
LOGIN_TAIL = ("", "", "", "？", "！", "！！", "，急", "，什么时候恢复", "，明天还款日", "。")
LOGIN_CALL = ("[[客户来电|来电]]反映[[APP|手机银行]]无法登录[[，已告知系统维护中|，已致歉|]]。",)

#: A fee-policy change: people quote the institution's own SMS notice, then react in their own words.
FEE_NOTICE = "【{inst_cn}】尊敬的客户，自{notice_date}起{fee_new}调整为{fee_amount}元"
FEE_REACTION = (
    "[[收到短信|今天收到通知|看到短信]]：“{notice}”，[[为什么|凭什么]][[说涨就涨|不提前征求意见|一声不吭就改]]？",
    "{fee_new}[[又涨了|怎么也要收了|突然要收钱]]，[[我要求取消|要求退回已扣的{fee_amount}元|不同意这个调整]]。",
    "“{notice}”——[[这个|这条]]通知[[我之前根本没看到|字太小了|发得太晚了]]，[[已经被扣了|这个月被扣]]{fee_amount}元。",
    "[[老客户了|用了{years}年]]，[[现在|这次]]{fee_new}[[说收就收|收这么多]]，[[准备销户|考虑换银行|很失望]]。",
    "请问{fee_new}[[调整|收费]]可以[[申请减免|豁免]]吗？[[我每月就用几次|我是低保户|我是退休老人]]。",
)

FEE_CALL = ("[[客户来电|来电人]]对{fee_new}调整为{fee_amount}元[[表示不满|有异议|不认可]]，[[要求取消|要求退还已扣费用|要求解释依据]][[，已解释|，已记录|]]。",)

#: A branch closure: elderly customers of one branch, all naming it.
BRANCH_TEXT = (
    "[[听说|看到公告说]]{branch}[[要撤了|{close_date}关门|要合并]]，[[以后|那我们]][[取养老金|存钱|办业务]][[要跑很远|去哪里办]]，[[老年人不会用手机|我腿脚不便]]。",
    "{branch}[[关门|撤并]]了，[[存折|社保卡]][[到哪里办|不会在手机上弄]]，[[希望保留|建议保留]][[网点|一个服务点]]。",
    "[[我在|我们小区的人都在]]{branch}[[办了几十年业务|存了很多年]]，[[说关就关|突然撤掉]]，[[太不方便了|很有意见]]。",
)
BRANCH_CALL = ("[[客户来电|老年客户来电]][[反映|询问]]{branch}撤并[[后业务办理去向|后如何领取养老金|事宜]]，[[已解释|已告知就近网点]]，[[客户不满|客户表示理解|要求保留网点]]。",)

#: A public self-help template (征信异议申请书范文) copied by unrelated people.
SELF_HELP_TEMPLATE = (
    "征信异议申请书\n申请人：{name}\n[[致|尊敬的]]{inst_cn}：\n"
    "本人在贵{unit}办理的{product}于{month}月出现逾期，经核实系{own_reason}所致，非本人主观恶意。"
    "根据《征信业管理条例》第二十五条，信息主体认为信息存在错误、遗漏的，有权提出异议。"
    "现申请对上述逾期记录进行核查并予以更正，请在规定期限内书面答复。\n申请人：{name}\n{date}"
)
SELF_HELP_REASONS = ("自动还款绑定的卡片挂失换卡", "银行扣款系统故障", "还款短信未收到", "住院期间无法操作",
                     "出国期间未能还款", "还款金额差几元未注意", "手机号码更换未收到提醒")
