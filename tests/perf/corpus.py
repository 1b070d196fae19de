"""A mixed corpus of group messages, the shape of a busy work group: mostly chat and acks."""

from __future__ import annotations

import random

ACKS = [
    "收到",
    "收到！",
    "好的收到",
    "1",
    "👍",
    "已阅",
    "知悉",
    "朝阳社区收到",
    "王芳收到",
    "received",
    "OK",
    "收到，谢谢",
    "明白",
]
LONG_NOTICE = (
    "【通知】关于开展第四季度独居老人走访工作的通知：各社区、各网格：为切实做好辖区独居老人关爱服务，"
    "现将有关事项通知如下：一、走访范围为辖区内全部独居及空巢老人；二、走访内容包括身体状况、居住安全、"
    "用电用气安全及生活需求；三、请于12月5日17:00前将走访台账（附件一）和汇总表（附件二）报送至街道民政办；"
    "四、走访中发现的特殊困难情况请及时上报，不得瞒报漏报。联系人：王芳，电话：0510-12345678。"
)
DEMANDS = [
    LONG_NOTICE + "收到请回复。",
    "【通知】明天上午9点在三楼会议室开会，请各社区书记准时参加。收到请回复。",
    "各位社区书记：请于本周五17:00前报送第四季度台账（附件），收到请回复1",
    "请大家接龙确认参会",
    "Please reply 'received' after reading the attached form.",
]
NOTICES = [
    LONG_NOTICE,
    "#通知 周六上午8:00-12:00停水，请提前储水。",
    "【会议通知】下周一下午3点召开安全生产例会，地点：街道三楼。",
    "通知：请各网格员本周内完成独居老人走访，并填写走访记录表。",
]
CHAT = [
    "我这边有111户还没登记",
    "收到，不过截止日期能不能延后？",
    "表格第二页打不开，谁有新版本？",
    "今天下午谁在办公室？",
    "3号楼电梯又坏了，已经报修",
    "大家辛苦了，早点休息",
    "这个表和上周民政发的那个是不是一样的",
    "明天早上我去街道开会，下午回来",
    "好的，我下午把材料送过去",
    "王主任，走访记录模板在哪里下载",
    "收到请回复这种要求我们社区一直没执行",
    "今天的入户走访完成了28户，剩下的明天继续。另外网格里有两户老人需要上门服务，已经联系了社区医生。",
]


def mixed(count: int, seed: int = 7) -> list[str]:
    """Half chat, a third acks, the rest notices and demands."""
    rng = random.Random(seed)
    pools = [(CHAT, 50), (ACKS, 35), (NOTICES, 8), (DEMANDS, 7)]
    population = [pool for pool, weight in pools for _ in range(weight)]
    return [rng.choice(rng.choice(population)) for _ in range(count)]
